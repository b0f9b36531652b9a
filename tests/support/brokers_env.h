// The brokers scripts/brokers.sh started: reads $BROKERSIDE_RUN_DIR/brokers.env
// (default .run/brokers). A test that needs a broker fails, never skips,
// when the file is missing: the test command must prove what it claims.
#pragma once

#include <cstdlib>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>

namespace brokerside::testing_support {

inline std::map<std::string, std::string> brokers_env() {
  const char* dir = std::getenv("BROKERSIDE_RUN_DIR");
  const std::string path =
      std::string(dir != nullptr ? dir : BROKERSIDE_SOURCE_DIR "/.run/brokers") + "/brokers.env";
  std::ifstream in(path);
  if (!in)
    throw std::runtime_error("no " + path + ": start the brokers with scripts/brokers.sh start");
  std::map<std::string, std::string> values;
  for (std::string line; std::getline(in, line);) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) values[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return values;
}

}  // namespace brokerside::testing_support
