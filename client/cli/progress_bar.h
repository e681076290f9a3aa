// A one-line progress bar with rate and ETA, redrawn in place ("\r") on a
// terminal, at most 10 times a second.
//
// Thread safety: none (one thread updates it).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

namespace qvdb::client {

// The bar's text for `done` of `total` units (total unknown: nullopt)
// after `seconds`: "[#####.....]  45.2%  4520/10000 rows  3012 rows/s  ETA
// 0:02"; without a total, "4520 rows  3012 rows/s  0:05".
std::string FormatProgress(uint64_t done, std::optional<uint64_t> total,
                           double seconds, std::string_view unit = "rows");
// "1:05", "1:02:03"; "?" for a negative or huge value.
std::string FormatDuration(double seconds);

class ProgressBar {
 public:
  // Draws nothing when !enabled.
  ProgressBar(std::ostream& out, bool enabled, std::optional<uint64_t> total);
  void Update(uint64_t done);
  // Draws the final state and ends the line.
  void Finish(uint64_t done);

 private:
  void Draw(uint64_t done);

  std::ostream& out_;
  const bool enabled_;
  const std::optional<uint64_t> total_;
  const std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  bool drawn_ = false;
};

}  // namespace qvdb::client
