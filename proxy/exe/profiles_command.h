#pragma once
// `stepgate profiles list [PROFILE] [--format markdown|tsv|json]` prints every operation a
// profile knows and how it is classified: the table a reviewer reads (docs/orchestrators.md).
// `stepgate profiles classify PROFILE METHOD TARGET [--header 'Name: value']... [--body FILE]`
// shows what one request classifies as, without sending it (lookups are shown, not made).
// argv[0] is "profiles".

namespace stepgate::exe {

int profilesCommand(int argc, char** argv);

}  // namespace stepgate::exe
