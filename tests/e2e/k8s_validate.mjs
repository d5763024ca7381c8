// Validates Kubernetes manifests the way an API server with strict field
// validation would, plus Drover's own rules for them:
//   - every object against the Kubernetes OpenAPI schemas (kubernetes-models'
//     validate(): types, required fields, formats), unknown kinds refused;
//   - no unknown field anywhere (the schemas allow extra properties; the API
//     server's fieldValidation=Strict does not): field names from
//     @kubernetes/client-node's per-type attribute maps;
//   - pod hardening, resources, digest-pinned images, references between
//     objects (Secrets, ConfigMaps, named ports, Service and PDB selectors);
//   - least-privilege RBAC: no ClusterRole, no "*", names on workload and
//     Secret rules;
//   - each kustomization.yaml lists every manifest beside it and pins every
//     image by digest in its images: entry.
// Usage: node k8s_validate.mjs --modules DIR [--rendered NAME=FILE]... MANIFEST_DIR...
// Prints one line per object; every problem goes to stderr; exit 1 on any.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
let modulesDir = '';
const rendered = [];
const dirs = [];
for (let i = 0; i < args.length; ++i) {
  if (args[i] === '--modules') modulesDir = args[++i];
  else if (args[i] === '--rendered') rendered.push(args[++i]);
  else dirs.push(args[i]);
}
if (!modulesDir || (dirs.length === 0 && rendered.length === 0)) {
  console.error('usage: node k8s_validate.mjs --modules DIR [--rendered NAME=FILE]... MANIFEST_DIR...');
  process.exit(2);
}
const require = createRequire(path.join(path.resolve(modulesDir), 'package.json'));
const load = async (name) => import(pathToFileURL(require.resolve(name)).href);
const YAML = await load('yaml');
// Only the generated models (the pinned version has no exports map): the
// whole client loads its HTTP stack too, 2.5 times slower per run.
const k8s = await load('@kubernetes/client-node/dist/gen/models/all.js');

const problems = [];
const problem = (where, what) => problems.push(`${where}: ${what}`);
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job']);

// --- Reading ---------------------------------------------------------------

// Kubernetes reads manifests as YAML 1.1 (sigs.k8s.io/yaml), so do we:
// `0440` is octal and `yes` a boolean there. Duplicate keys are errors.
function readDocs(file, label = file) {
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'), { version: '1.1', uniqueKeys: true });
  const out = [];
  for (const doc of docs) {
    for (const e of doc.errors) problem(label, `YAML: ${e.message}`);
    if (doc.errors.length > 0) continue;
    const obj = doc.toJS();
    if (obj === null || obj === undefined) continue;
    if (typeof obj !== 'object' || Array.isArray(obj)) {
      problem(label, 'a document is not a mapping (a Kubernetes object)');
      continue;
    }
    out.push({ file: label, obj });
  }
  return out;
}

function yamlFiles(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...yamlFiles(p));
    else if (/\.ya?ml$/.test(e.name)) out.push(p);
  }
  return out.sort();
}

const id = (o) => `${o.kind ?? '?'}/${o.metadata?.name ?? '?'}`;

// --- Schemas ---------------------------------------------------------------

const modelModules = new Map();
async function schemaCheck({ file, obj }) {
  const where = `${file}: ${id(obj)}`;
  if (typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string') {
    problem(where, 'apiVersion and kind are required');
    return false;
  }
  if (!obj.metadata?.name) problem(where, '/metadata/name is required');
  let mod = modelModules.get(obj.apiVersion);
  if (mod === undefined) {
    try {
      mod = await load(`kubernetes-models/${obj.apiVersion}`);
    } catch {
      mod = null;
    }
    modelModules.set(obj.apiVersion, mod);
  }
  // The CommonJS entry: its classes are on the default export.
  const Model = mod?.[obj.kind] ?? mod?.default?.[obj.kind];
  if (typeof Model !== 'function') {
    problem(where, `no Kubernetes schema for apiVersion ${obj.apiVersion} kind ${obj.kind} (misspelled, or not a built-in type)`);
    return false;
  }
  try {
    new Model(obj).validate();
  } catch (e) {
    if (!Array.isArray(e.errors)) throw e;
    for (const err of e.errors) {
      const detail = err.params && Object.keys(err.params).length ? ` ${JSON.stringify(err.params)}` : '';
      problem(where, `${err.instancePath || '/'} ${err.message}${detail}`);
    }
  }
  return true;  // a known kind: its field names can be checked too
}

// Unknown fields, named by their path (spec.template.spec.containers[0].imagePullPolycy).
function typeMapOf(type) {
  const cls = k8s[type];
  return typeof cls?.getAttributeTypeMap === 'function' ? cls.getAttributeTypeMap() : null;
}
function walkFields(value, type, at, where) {
  if (value === null || value === undefined) return;
  let m;
  if ((m = /^Array<(.+)>$/.exec(type))) {
    if (Array.isArray(value)) value.forEach((v, i) => walkFields(v, m[1], `${at}[${i}]`, where));
    return;
  }
  if ((m = /^\{ \[key: string\]: (.+); \}$/.exec(type))) {
    if (typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) walkFields(v, m[1], `${at}[${JSON.stringify(k)}]`, where);
    }
    return;
  }
  const map = typeMapOf(type);
  if (map === null || typeof value !== 'object' || Array.isArray(value)) return;  // primitives: the schema's job
  const known = new Map(map.map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    const path = at ? `${at}.${k}` : k;
    if (!known.has(k)) problem(where, `unknown field "${path}" (not in ${type})`);
    else walkFields(v, known.get(k), path, where);
  }
}
function strictFieldCheck({ file, obj }) {
  const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : ['', obj.apiVersion];
  const prefix = version.charAt(0).toUpperCase() + version.slice(1);
  // client-node prefixes a few clashing names with their group (CoreV1Event).
  const candidates = [`${prefix}${obj.kind}`, `${group === '' ? 'Core' : ''}${prefix}${obj.kind}`];
  const type = candidates.find((t) => typeMapOf(t) !== null);
  if (type === undefined) {
    problem(`${file}: ${id(obj)}`, `no field list for ${obj.apiVersion} ${obj.kind}`);
    return;
  }
  walkFields(obj, type, '', `${file}: ${id(obj)}`);
}

// --- Drover's rules --------------------------------------------------------

function podTemplateOf(obj) {
  return WORKLOAD_KINDS.has(obj.kind) ? obj.spec?.template ?? null : null;
}
const selects = (selector, labels) =>
  selector && Object.keys(selector).length > 0 &&
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

// rendered: images must carry their digest themselves (kustomize output);
// otherwise each image is pinned by the kustomization beside it.
function workloadChecks(objs, { renderedMode, kustomizations }) {
  const byKind = (k) => objs.filter((o) => o.obj.kind === k);
  const named = (k) => new Map(byKind(k).map((o) => [o.obj.metadata?.name, o.obj]));
  const secrets = named('Secret');
  const configMaps = named('ConfigMap');
  for (const { file, obj } of objs) {
    const tpl = podTemplateOf(obj);
    if (tpl === null) continue;
    const where = `${file}: ${id(obj)}`;
    const pod = tpl?.spec ?? {};
    const podSc = pod.securityContext ?? {};
    const containers = [...(pod.initContainers ?? []), ...(pod.containers ?? [])];
    for (const c of containers) {
      const cw = `${where}: container ${c.name}`;
      const sc = c.securityContext ?? {};
      if ((sc.runAsNonRoot ?? podSc.runAsNonRoot) !== true) problem(cw, 'securityContext.runAsNonRoot must be true');
      if (sc.readOnlyRootFilesystem !== true) problem(cw, 'securityContext.readOnlyRootFilesystem must be true');
      if (sc.allowPrivilegeEscalation !== false) problem(cw, 'securityContext.allowPrivilegeEscalation must be false');
      if (!(sc.capabilities?.drop ?? []).includes('ALL')) problem(cw, 'securityContext.capabilities.drop must include ALL');
      if (sc.capabilities?.add?.length) problem(cw, `securityContext.capabilities.add must be empty, not ${sc.capabilities.add}`);
      if ((sc.seccompProfile?.type ?? podSc.seccompProfile?.type) !== 'RuntimeDefault') {
        problem(cw, 'seccompProfile.type must be RuntimeDefault');
      }
      if (sc.privileged === true) problem(cw, 'securityContext.privileged must not be set');
      for (const kind of ['requests', 'limits']) {
        for (const r of ['cpu', 'memory']) {
          if (c.resources?.[kind]?.[r] === undefined) problem(cw, `resources.${kind}.${r} is missing`);
        }
      }
      const image = String(c.image ?? '');
      if (renderedMode) {
        if (!/@sha256:[0-9a-f]{64}$/.test(image)) problem(cw, `image "${image}" is not pinned by digest (@sha256:...)`);
      } else {
        if (/[@:]/.test(image.replace(/^[^/]*\//, ''))) {
          problem(cw, `image "${image}" carries a tag or digest; name it only and pin it in kustomization.yaml images:`);
        }
        const pins = kustomizations.filter((k) => path.dirname(k.file) === path.dirname(file));
        if (!pins.some((k) => (k.obj.images ?? []).some((i) => i.name === image && DIGEST.test(i.digest ?? '')))) {
          problem(cw, `image "${image}" has no digest in an images: entry of the kustomization.yaml beside it`);
        }
      }
      const ports = new Set((c.ports ?? []).map((p) => p.name).filter(Boolean));
      for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
        const p = c[probe];
        const port = p?.grpc?.port ?? p?.tcpSocket?.port ?? p?.httpGet?.port;
        if (typeof port === 'string' && !ports.has(port)) problem(cw, `${probe} names port "${port}", which the container does not declare`);
      }
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.configMapKeyRef ?? e.valueFrom?.secretKeyRef;
        if (!ref || ref.optional) continue;
        const pool = e.valueFrom.configMapKeyRef ? configMaps : secrets;
        const target = pool.get(ref.name);
        if (!target) problem(cw, `env ${e.name} reads ${ref.name}, defined nowhere here`);
        else if (!(ref.key in (target.data ?? {})) && !(ref.key in (target.stringData ?? {}))) {
          problem(cw, `env ${e.name} reads key "${ref.key}", which ${ref.name} does not have`);
        }
      }
    }
    for (const v of pod.volumes ?? []) {
      if (v.secret) {
        // Rendered output leaves the Secret templates out; the directory run checks them.
        if (!renderedMode && !secrets.has(v.secret.secretName)) {
          problem(where, `volume ${v.name}: Secret ${v.secret.secretName} is defined nowhere here (not even as a *.example.yaml template)`);
        }
        // Drover refuses key files that others may read; Kubernetes' default is 0644.
        const mode = v.secret.defaultMode ?? 0o644;
        if ((mode & 0o007) !== 0) {
          problem(where, `volume ${v.name}: secret defaultMode ${mode.toString(8).padStart(4, '0')} lets others read the keys (Drover refuses them); use 0440 (288) with fsGroup`);
        }
        if (((mode & 0o070) !== 0) && podSc.fsGroup === undefined) {
          problem(where, `volume ${v.name}: group-readable secret files need securityContext.fsGroup`);
        }
      }
      if (v.configMap && !configMaps.has(v.configMap.name)) problem(where, `volume ${v.name}: ConfigMap ${v.configMap.name} is defined nowhere here`);
    }
    const replicas = obj.spec?.replicas ?? 1;
    const labels = tpl?.metadata?.labels ?? {};
    if (obj.kind === 'Deployment' && replicas >= 2) {
      if (!byKind('PodDisruptionBudget').some((p) => selects(p.obj.spec?.selector?.matchLabels, labels))) {
        problem(where, `${replicas} replicas but no PodDisruptionBudget selects its pods`);
      }
      const spread = (pod.topologySpreadConstraints ?? []).some(
        (t) => t.topologyKey === 'kubernetes.io/hostname' && t.whenUnsatisfiable === 'DoNotSchedule' && selects(t.labelSelector?.matchLabels, labels));
      const anti = (pod.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []).some(
        (t) => t.topologyKey === 'kubernetes.io/hostname');
      if (!spread && !anti) problem(where, `${replicas} replicas but nothing spreads them across nodes (kubernetes.io/hostname)`);
    }
    if (!selects(obj.spec?.selector?.matchLabels, labels)) problem(where, 'spec.selector.matchLabels does not select its own pod template');
  }
  // Services and PDBs select some workload here; named target ports exist.
  const templates = objs.map((o) => podTemplateOf(o.obj)).filter(Boolean);
  for (const { file, obj } of byKind('Service')) {
    const where = `${file}: ${id(obj)}`;
    const tpl = templates.find((t) => selects(obj.spec?.selector, t.metadata?.labels));
    if (!tpl) { problem(where, 'its selector matches no pod template here'); continue; }
    const ports = new Set((tpl.spec?.containers ?? []).flatMap((c) => (c.ports ?? []).map((p) => p.name)));
    for (const p of obj.spec?.ports ?? []) {
      if (typeof p.targetPort === 'string' && !ports.has(p.targetPort)) problem(where, `port ${p.name}: targetPort "${p.targetPort}" is no container port name`);
    }
  }
  for (const { file, obj } of byKind('PodDisruptionBudget')) {
    if (!templates.some((t) => selects(obj.spec?.selector?.matchLabels, t.metadata?.labels))) {
      problem(`${file}: ${id(obj)}`, 'its selector matches no pod template here');
    }
  }
}

// Least privilege for everything that gets a Role.
const NAMED_RESOURCES = new Set(['secrets', 'deployments', 'statefulsets', 'daemonsets', 'configmaps']);
const ALLOWED_VERBS = new Set(['get', 'list', 'watch', 'patch', 'create', 'delete']);
function rbacChecks(objs) {
  for (const { file, obj } of objs) {
    const where = `${file}: ${id(obj)}`;
    if (obj.kind === 'ClusterRole' || obj.kind === 'ClusterRoleBinding') {
      problem(where, `cluster-scoped RBAC (${obj.kind}) is not allowed: use a Role in the agent's namespace`);
    }
    if (obj.kind === 'RoleBinding') {
      if (obj.roleRef?.kind !== 'Role') problem(where, `roleRef.kind must be Role, not ${obj.roleRef?.kind}`);
      for (const s of obj.subjects ?? []) {
        if (s.kind !== 'ServiceAccount' || s.namespace !== obj.metadata?.namespace) {
          problem(where, `subject ${s.kind}/${s.name} must be a ServiceAccount of namespace ${obj.metadata?.namespace}`);
        }
      }
    }
    if (obj.kind !== 'Role' && obj.kind !== 'ClusterRole') continue;
    (obj.rules ?? []).forEach((r, i) => {
      const rw = `${where}: rules[${i}]`;
      for (const field of ['apiGroups', 'resources', 'verbs', 'resourceNames']) {
        if ((r[field] ?? []).includes('*')) problem(rw, `${field} contains "*"`);
      }
      for (const v of r.verbs ?? []) {
        if (!ALLOWED_VERBS.has(v)) problem(rw, `verb "${v}" is more than the updater needs`);
      }
      const resources = r.resources ?? [];
      if ((r.verbs ?? []).includes('create') && !resources.every((x) => x === 'events')) {
        problem(rw, 'create is allowed on events only');
      }
      // A StatefulSet's forced rollback deletes the agent's broken pods, by
      // name (<name>-<ordinal>), never every pod of the namespace.
      if ((r.verbs ?? []).includes('delete')) {
        if (!resources.every((x) => x === 'pods')) problem(rw, 'delete is allowed on pods only');
        else if (!(r.resourceNames ?? []).length) problem(rw, 'delete on pods without resourceNames: name the agent\'s pods');
      }
      for (const res of resources) {
        if (res.includes('/') && res !== 'deployments/scale') problem(rw, `subresource ${res} is not needed`);
        if (NAMED_RESOURCES.has(res) && !(r.resourceNames ?? []).length) problem(rw, `${res} without resourceNames: name the one object`);
      }
      if (resources.includes('secrets') && (r.verbs ?? []).some((v) => !['get', 'list', 'watch'].includes(v))) {
        problem(rw, 'secrets: get, list and watch only');
      }
    });
  }
}

// Each kustomization.yaml lists exactly the manifests beside it
// (*.example.yaml templates excepted), and sets the namespace they name.
function kustomizationChecks(dir, kustomizations, objs) {
  const allowedKeys = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'images', 'labels', 'commonAnnotations',
    'patches', 'configMapGenerator', 'secretGenerator', 'components', 'namePrefix', 'nameSuffix', 'replicas',
    'generatorOptions']);
  for (const { file, obj } of kustomizations) {
    const here = path.dirname(file);
    if (obj.apiVersion !== 'kustomize.config.k8s.io/v1beta1' || obj.kind !== 'Kustomization') {
      problem(file, 'apiVersion/kind must be kustomize.config.k8s.io/v1beta1 Kustomization');
    }
    for (const k of Object.keys(obj)) if (!allowedKeys.has(k)) problem(file, `unknown or unexpected field "${k}"`);
    const listed = new Set((obj.resources ?? []).map((r) => path.normalize(path.join(here, r))));
    for (const r of listed) if (!fs.existsSync(r)) problem(file, `resources lists ${path.relative(here, r)}, which does not exist`);
    for (const f of yamlFiles(here)) {
      if (path.dirname(f) !== here || /kustomization\.ya?ml$/.test(f) || /\.example\.ya?ml$/.test(f)) continue;
      if (!listed.has(path.normalize(f))) problem(file, `${path.basename(f)} is not listed in resources (kubectl apply -k would skip it)`);
    }
    for (const img of obj.images ?? []) {
      if (!DIGEST.test(img.digest ?? '')) problem(file, `images: ${img.name} needs digest: sha256:<64 hex>`);
      if (img.newTag !== undefined) problem(file, `images: ${img.name} sets newTag; pin by digest only`);
      const used = objs.some((o) => path.dirname(o.file) === here &&
        (podTemplateOf(o.obj)?.spec?.containers ?? []).some((c) => c.image === img.name));
      if (!used) problem(file, `images: ${img.name} matches no container image here`);
    }
    for (const o of objs) {
      if (path.dirname(o.file) !== here || !listed.has(path.normalize(o.file))) continue;
      const ns = o.obj.metadata?.namespace;
      if (obj.namespace && o.obj.kind !== 'Namespace' && ns !== undefined && ns !== obj.namespace) {
        problem(`${o.file}: ${id(o.obj)}`, `namespace ${ns} differs from the kustomization's ${obj.namespace}`);
      }
    }
  }
  if (kustomizations.length === 0) problem(dir, 'no kustomization.yaml');
}

// --- Main ------------------------------------------------------------------

async function validateSet(label, objs, opts) {
  const kinds = [];
  for (const o of objs) {
    if (await schemaCheck(o)) strictFieldCheck(o);
    kinds.push(`${path.basename(o.file)}:${id(o.obj)}`);
  }
  workloadChecks(objs, opts);
  rbacChecks(objs);
  console.log(`${label}: ${objs.length} objects: ${kinds.join(' ')}`);
}

let total = 0;
for (const dir of dirs) {
  for (const sub of [...new Set(yamlFiles(dir).map((f) => path.dirname(f)))]) {
    const docs = yamlFiles(sub).filter((f) => path.dirname(f) === sub).flatMap((f) => readDocs(f));
    const kustomizations = docs.filter((d) => /kustomization\.ya?ml$/.test(d.file));
    const objs = docs.filter((d) => !/kustomization\.ya?ml$/.test(d.file));
    kustomizationChecks(sub, kustomizations, objs);
    await validateSet(sub, objs, { renderedMode: false, kustomizations });
    total += objs.length;
  }
}
for (const spec of rendered) {
  const [name, file] = spec.split('=');
  const objs = readDocs(file, `${name} (rendered)`);
  await validateSet(`${name} (rendered)`, objs, { renderedMode: true, kustomizations: [] });
  total += objs.length;
}
if (problems.length > 0) {
  for (const p of problems) console.error(`INVALID ${p}`);
  console.error(`k8s_validate: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log(`k8s_validate: ${total} objects valid`);
