#pragma once
// The command-line commands of the stepgate binary (docs/cli.md). Wiring only: each command
// parses its flags, calls into the modules and returns the process exit code.

namespace stepgate::exe {

int serveCommand(int argc, char** argv);
int checkCommand(int argc, char** argv);
int demoCommand(int argc, char** argv);
int tokenCommand(int argc, char** argv);

}  // namespace stepgate::exe
