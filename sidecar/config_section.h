// One mapping of the YAML configuration, read with its dotted path so that
// every error names the setting. A key is declared by reading it: done()
// refuses any key of the mapping that no read asked for, so each setting is
// named once, where it is read into its member (no separate allow-list).
#pragma once

#include <yaml-cpp/node/node.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace brokerside::sidecar {

// Throws config_error("path: reason").
[[noreturn]] void config_fail(const std::string& path, const std::string& reason);

// The whole of `file`, named by the setting at `path`; fails naming it when
// the file cannot be read, is not a regular file (a device such as
// /dev/zero would never end) or holds more than 1 MiB.
std::string read_config_file(const std::string& path, const std::string& file);

// The secret in `file` (a trailing newline dropped), for the setting at
// `path`; fails naming it when the file cannot be read or is empty.
std::string read_secret_file(const std::string& path, const std::string& file);

class config_section;
// The secret that `<key>_file` (read_secret_file) or `<key>_env` (an
// environment variable) of `s` gives, or empty if neither is set; fails
// naming the setting when both are, or the variable is unset.
std::string read_secret(const config_section& s, const std::string& key);

class config_section {
 public:
  // `node` may be undefined or null (an absent section: defaults hold).
  config_section(YAML::Node node, std::string path);

  // The value at `key` (declaring it); invalid (false) if absent or null.
  YAML::Node get(const std::string& key) const;
  // The mapping at `key` (declaring it); it checks its own keys.
  config_section child(const std::string& key) const;

  std::string path(const std::string& key) const;  // "targets.cache.pool.min_idle"
  const std::string& where() const noexcept { return path_; }
  bool present() const { return node_ && !node_.IsNull(); }
  const YAML::Node& node() const noexcept { return node_; }

  // Readers: leave `out` alone when the key is absent; fail naming the key
  // when the value is not of the kind.
  void read(const std::string& key, std::string& out) const;
  void read(const std::string& key, bool& out) const;
  void read(const std::string& key, std::uint32_t& out) const;
  // The same, and fails naming the key unless `out` is from `min` to `max`.
  void read(const std::string& key, std::uint32_t& out, std::uint32_t min, std::uint32_t max) const;
  void read(const std::string& key, double& out) const;
  void read(const std::string& key, std::chrono::milliseconds& out) const;
  void read_size(const std::string& key, std::uint64_t& out) const;  // "4MiB", 65536
  std::vector<std::string> strings(const std::string& key) const;    // a value or a list
  std::string scalar(const std::string& key) const;
  // The mappings of the list at `key` ("key[0]", ...); empty if absent.
  std::vector<config_section> sections(const std::string& key) const;

  // Fails on the first key of this mapping that no read declared.
  void done() const;

 private:
  YAML::Node node_;
  std::string path_;
  mutable std::vector<std::string> declared_;  // keys asked for, in order
};

}  // namespace brokerside::sidecar
