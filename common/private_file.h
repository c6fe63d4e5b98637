#pragma once
// Secrets on disk: keys stepgate creates for itself at first start (its signing key, session
// keys, the audit hash key).

#include <string>

#include "common/status.h"

namespace stepgate {

// Creates `path` with mode 0600 and writes `data`, fsynced. Fails (InternalError naming the
// path, never the data) if the file exists or cannot be written; a partial file is removed.
[[nodiscard]] Status writeNewPrivateFile(const std::string& path, const std::string& data);

}  // namespace stepgate
