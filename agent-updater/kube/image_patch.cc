#include "agent-updater/kube/image_patch.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/semver.h"
#include "nlohmann/json.hpp"

namespace drover::updater::kube {
namespace {

// `image` without "@digest".
absl::string_view WithoutDigest(absl::string_view image) {
  const size_t at = image.find('@');
  return at == absl::string_view::npos ? image : image.substr(0, at);
}

// Position of the ':' starting the tag, or npos (a ':' before the last '/'
// is a registry port).
size_t TagColon(absl::string_view name) {
  const size_t slash = name.rfind('/');
  const size_t colon = name.rfind(':');
  if (colon == absl::string_view::npos) return colon;
  if (slash != absl::string_view::npos && colon < slash) return absl::string_view::npos;
  return colon;
}

}  // namespace

std::string ImageRepository(absl::string_view image) {
  const absl::string_view name = WithoutDigest(image);
  const size_t colon = TagColon(name);
  return std::string(colon == absl::string_view::npos ? name : name.substr(0, colon));
}

std::string ImageTag(absl::string_view image) {
  const absl::string_view name = WithoutDigest(image);
  const size_t colon = TagColon(name);
  return colon == absl::string_view::npos ? "" : std::string(name.substr(colon + 1));
}

absl::StatusOr<std::string> VersionOfImage(absl::string_view image, absl::string_view tag_prefix) {
  const std::string tag = ImageTag(image);
  if (tag.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "image \"", image, "\" has no tag, so its version cannot be told: give it as repo:",
        tag_prefix, "<version> (or repo:", tag_prefix, "<version>@sha256:...)"));
  }
  absl::string_view version = tag;
  if (!absl::ConsumePrefix(&version, tag_prefix)) {
    return absl::InvalidArgumentError(
        absl::StrCat("image \"", image, "\": tag \"", tag, "\" does not start with --tag_prefix \"", tag_prefix, "\""));
  }
  absl::StatusOr<Semver> v = Semver::Parse(version);
  if (!v.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("image \"", image, "\": tag \"", tag, "\" is not ", tag_prefix,
                                                   "<version>: ", v.status().message()));
  }
  return v->ToString();
}

std::string ImageForVersion(absl::string_view image, absl::string_view version, absl::string_view tag_prefix) {
  return absl::StrCat(ImageRepository(image), ":", tag_prefix, version);
}

std::string PinnedImage(absl::string_view tagged_image, absl::string_view digest) {
  return absl::StrCat(WithoutDigest(tagged_image), "@", digest);
}

std::string BuildImagePatch(size_t index, absl::string_view container, absl::string_view expected_image,
                            absl::string_view new_image) {
  const std::string base = absl::StrCat("/spec/template/spec/containers/", index);
  nlohmann::json patch = nlohmann::json::array({
      {{"op", "test"}, {"path", base + "/name"}, {"value", std::string(container)}},
      {{"op", "test"}, {"path", base + "/image"}, {"value", std::string(expected_image)}},
      {{"op", "replace"}, {"path", base + "/image"}, {"value", std::string(new_image)}},
  });
  return patch.dump();
}

}  // namespace drover::updater::kube
