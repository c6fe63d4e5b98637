#pragma once
// Loads the `identity:` section of a config (docs/identity.md) into an IdentityConfig. Part
// of config::load(): strict like the rest of the loader, it reports every problem as
// "FILE:LINE:COL: message" (InvalidArgument) and never throws on bad input; yaml-cpp
// exceptions are caught by load() at its boundary. No shared state, so any thread may call it;
// it touches the file system only to check that referenced files can be read.

#include <filesystem>
#include <vector>

#include "common/status.h"
#include "config/schema.h"
#include "config/yaml_util.h"

namespace stepgate::config {

// Reads `node` (the value of the top-level `identity` key) into `out`.
// @param src names the document, for error positions.
// @param base_dir the config file's folder: relative file names are resolved against it, and
//        `out` holds the resolved paths.
// @param listeners the config's listeners, already loaded: an mtls provider needs a TLS
//        listener with client_ca.
// @return OK, or InvalidArgument with the position of the first problem; `out` is then
//         partly filled and must be discarded.
[[nodiscard]] Status loadIdentity(const YamlSource& src, const std::filesystem::path& base_dir,
                                  const YAML::Node& node,
                                  const std::vector<ListenerConfig>& listeners,
                                  IdentityConfig& out);

}  // namespace stepgate::config
