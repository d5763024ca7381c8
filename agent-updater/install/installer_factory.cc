#include "agent-updater/install/installer_factory.h"

#include "agent-updater/install/apt_installer.h"
#include "agent-updater/install/dnf_installer.h"
#include "agent-updater/install/tarball_installer.h"

namespace drover::updater {

absl::StatusOr<std::unique_ptr<Installer>> MakeInstaller(const v1::AgentConfig& agent) {
  switch (agent.installer_case()) {
    case v1::AgentConfig::kTarball: {
      absl::StatusOr<std::unique_ptr<TarballInstaller>> t = TarballInstaller::Create(agent.name(), agent.tarball());
      if (!t.ok()) return t.status();
      return std::unique_ptr<Installer>(*std::move(t));
    }
    case v1::AgentConfig::kApt: {
      absl::StatusOr<std::unique_ptr<AptInstaller>> a = AptInstaller::Create(agent.name(), agent.apt());
      if (!a.ok()) return a.status();
      return std::unique_ptr<Installer>(*std::move(a));
    }
    case v1::AgentConfig::kDnf: {
      absl::StatusOr<std::unique_ptr<DnfInstaller>> d = DnfInstaller::Create(agent.name(), agent.dnf());
      if (!d.ok()) return d.status();
      return std::unique_ptr<Installer>(*std::move(d));
    }
    case v1::AgentConfig::INSTALLER_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("config agent: set one of agent.apt, agent.dnf, agent.tarball");
}

}  // namespace drover::updater
