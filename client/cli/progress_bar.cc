#include "client/cli/progress_bar.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace qvdb::client {

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0 || seconds > 1e7) return "?";
  const auto s = static_cast<uint64_t>(std::llround(seconds));
  if (s >= 3600)
    return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

std::string FormatProgress(uint64_t done, std::optional<uint64_t> total,
                           double seconds, std::string_view unit) {
  const double rate = seconds > 0 ? done / seconds : 0;
  const std::string rate_text =
      seconds > 0 ? fmt::format("{:.0f} {}/s", rate, unit) : "";
  if (!total.has_value() || *total == 0) {
    return fmt::format("{} {}  {}  {}", done, unit, rate_text,
                       FormatDuration(seconds));
  }
  constexpr int kWidth = 24;
  const double frac = std::min(1.0, double(done) / double(*total));
  const int filled = static_cast<int>(frac * kWidth);
  const std::string eta =
      rate > 0 ? FormatDuration((*total - std::min(done, *total)) / rate) : "?";
  return fmt::format("[{}{}] {:5.1f}%  {}/{} {}  {}  ETA {}",
                     std::string(filled, '#'),
                     std::string(kWidth - filled, '.'), frac * 100, done,
                     *total, unit, rate_text, eta);
}

ProgressBar::ProgressBar(std::ostream& out, bool enabled,
                         std::optional<uint64_t> total)
    : out_(out),
      enabled_(enabled),
      total_(total),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

void ProgressBar::Draw(uint64_t done) {
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_)
          .count();
  // Pad to clear what a longer previous line left behind.
  out_ << "\r" << fmt::format("{:<90}", FormatProgress(done, total_, seconds))
       << std::flush;
  drawn_ = true;
}

void ProgressBar::Update(uint64_t done) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  Draw(done);
}

void ProgressBar::Finish(uint64_t done) {
  if (!enabled_) return;
  Draw(done);
  out_ << "\n" << std::flush;
}

}  // namespace qvdb::client
