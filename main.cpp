// meshfed: a thin composition; everything lives in the module libraries.
#include <iostream>
#include <string>
#include <vector>

#include "agent/cli.hpp"

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    return meshfed::agent::run_cli(args, std::cout, std::cerr);
}
