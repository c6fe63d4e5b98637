#pragma once
// Loads the top-level `sso:` key (docs/config.md, "sso"; docs/sso.md). Part of config::load():
// strict, every problem is "FILE:LINE:COL: message". Needs the top-level `issuer` (loaded
// first): it is the `iss` of the access tokens and the default token audience.

#include <filesystem>

#include "common/status.h"
#include "config/schema.h"
#include "config/yaml_util.h"

namespace stepgate::config {

[[nodiscard]] Status loadSso(const YamlSource& src, const std::filesystem::path& base_dir,
                             const YAML::Node& node, const std::optional<IssuerConfig>& issuer,
                             SsoConfig& out);

// The provider that accepts stepgate's own access tokens (typ at+jwt, ES256, keys from the
// issuer key), appended to identity.providers when `sso` is configured.
ProviderConfig stepgateProvider(const IssuerConfig& issuer, const SsoConfig& sso);

}  // namespace stepgate::config
