#include "sidecar/config_section.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "sidecar/config.h"
#include "sidecar/units.h"

namespace brokerside::sidecar {
namespace {

std::string join(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

}  // namespace

void config_fail(const std::string& path, const std::string& reason) {
  throw config_error(path + ": " + reason);
}

config_section::config_section(YAML::Node node, std::string path)
    : node_(std::move(node)), path_(std::move(path)) {
  if (node_ && !node_.IsNull() && !node_.IsMap()) config_fail(path_, "must be a mapping");
}

YAML::Node config_section::get(const std::string& key) const {
  if (std::find(declared_.begin(), declared_.end(), key) == declared_.end()) {
    declared_.push_back(key);
  }
  // Lookups go through a const node: yaml-cpp's non-const operator[] inserts.
  const YAML::Node& node = node_;
  if (!node || node.IsNull()) return YAML::Node(YAML::NodeType::Undefined);
  auto value = node[key];
  if (!value || value.IsNull()) return YAML::Node(YAML::NodeType::Undefined);
  return value;
}

config_section config_section::child(const std::string& key) const { return {get(key), path(key)}; }

std::string config_section::path(const std::string& key) const { return join(path_, key); }

std::string config_section::scalar(const std::string& key) const {
  const auto value = get(key);
  if (!value.IsScalar()) config_fail(path(key), "must be a single value");
  return value.Scalar();
}

void config_section::read(const std::string& key, std::string& out) const {
  if (get(key)) out = scalar(key);
}

void config_section::read(const std::string& key, bool& out) const {
  if (!get(key)) return;
  const auto text = scalar(key);
  if (text == "true") {
    out = true;
  } else if (text == "false") {
    out = false;
  } else {
    config_fail(path(key), "must be true or false, not '" + text + "'");
  }
}

void config_section::read(const std::string& key, std::uint32_t& out) const {
  if (!get(key)) return;
  const auto text = scalar(key);
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
    config_fail(path(key), "must be a non-negative integer, not '" + text + "'");
  }
  errno = 0;
  const auto value = std::strtoull(text.c_str(), nullptr, 10);
  if (errno != 0 || value > std::numeric_limits<std::uint32_t>::max()) {
    config_fail(path(key), "too large");
  }
  out = static_cast<std::uint32_t>(value);
}

void config_section::read(const std::string& key, std::uint32_t& out, std::uint32_t min,
                          std::uint32_t max) const {
  read(key, out);
  if (out < min || out > max) {
    config_fail(path(key), "must be from " + std::to_string(min) + " to " + std::to_string(max));
  }
}

void config_section::read(const std::string& key, double& out) const {
  if (!get(key)) return;
  const auto text = scalar(key);
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno != 0) config_fail(path(key), "must be a number");
  out = value;
}

void config_section::read(const std::string& key, std::chrono::milliseconds& out) const {
  if (!get(key)) return;
  const auto text = scalar(key);
  const auto value = parse_duration(text);
  if (!value) {
    config_fail(path(key), "'" + text + "' is not a duration (e.g. 250ms, 5s, 2m, 1h, 0)");
  }
  out = *value;
}

void config_section::read_size(const std::string& key, std::uint64_t& out) const {
  if (!get(key)) return;
  const auto text = scalar(key);
  const auto value = parse_size(text);
  if (!value) config_fail(path(key), "'" + text + "' is not a size (e.g. 4MiB, 65536)");
  out = *value;
}

std::vector<std::string> config_section::strings(const std::string& key) const {
  std::vector<std::string> out;
  const auto value = get(key);
  if (!value) return out;
  if (value.IsScalar()) return {value.Scalar()};
  if (!value.IsSequence()) config_fail(path(key), "must be a list");
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (!value[i].IsScalar()) {
      config_fail(path(key) + "[" + std::to_string(i) + "]", "must be a value");
    }
    out.push_back(value[i].Scalar());
  }
  return out;
}

std::vector<config_section> config_section::sections(const std::string& key) const {
  std::vector<config_section> out;
  const auto value = get(key);
  if (!value) return out;
  if (!value.IsSequence()) config_fail(path(key), "must be a list");
  for (std::size_t i = 0; i < value.size(); ++i) {
    const auto where = path(key) + "[" + std::to_string(i) + "]";
    if (!value[i].IsMap()) config_fail(where, "must be a mapping");
    out.emplace_back(value[i], where);
  }
  return out;
}

void config_section::done() const {
  if (!present()) return;
  for (const auto& entry : node_) {
    const auto key = entry.first.as<std::string>();
    if (std::find(declared_.begin(), declared_.end(), key) != declared_.end()) continue;
    std::string known;
    for (const auto& k : declared_) known += (known.empty() ? "" : ", ") + k;
    config_fail(join(path_, key), "unknown setting (known here: " + known + ")");
  }
}

std::string read_config_file(const std::string& path, const std::string& file) {
  std::error_code ec;
  // (Follows symlinks: Kubernetes mounts Secrets as links to regular files.)
  const auto status = std::filesystem::status(file, ec);
  if (!ec && std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
    config_fail(path, "'" + file + "' is not a regular file");
  }
  if (const auto size = std::filesystem::file_size(file, ec); !ec && size > (1u << 20)) {
    config_fail(path, "'" + file + "' is larger than 1 MiB");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) config_fail(path, "cannot read '" + file + "': " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string read_secret_file(const std::string& path, const std::string& file) {
  auto secret = read_config_file(path, file);
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.empty()) config_fail(path, "'" + file + "' is empty");
  return secret;
}

std::string read_secret(const config_section& s, const std::string& key) {
  std::string file;
  std::string env;
  s.read(key + "_file", file);
  s.read(key + "_env", env);
  if (!file.empty() && !env.empty()) {
    config_fail(s.path(key + "_file"), "give " + key + "_file or " + key + "_env, not both");
  }
  if (!file.empty()) return read_secret_file(s.path(key + "_file"), file);
  if (env.empty()) return {};
  const char* value = std::getenv(env.c_str());
  if (value == nullptr || *value == '\0') {
    config_fail(s.path(key + "_env"), "environment variable " + env + " is not set");
  }
  return value;
}

}  // namespace brokerside::sidecar
