// Comment (and Python docstring) removal with the semantics of CodeBLEU's
// `remove_comments_and_docstrings`, done on bytes. No Python in this file.
#pragma once
#include <string>

namespace ppocoder {

enum class StripStyle {
    kPython,  // Python's tokenize-based pass: comments, plus strings that start a line
    kCLike,   // the `//`, `/* */` regex pass that honours '...' and "..." literals
    kNone,    // keep the source as it is
};

// Returns the source with comments removed and blank lines dropped. When the
// Python pass fails (unclosed bracket or string at EOF, bad dedent) the source is
// returned unchanged, as CodeBLEU does when `tokenize` raises.
// `unbalanced`, when given, is set when the source will very likely parse with
// errors: the Python pass failed, or C-like brackets outside comments and
// literals do not balance (typically code cut off mid-way). It only steers how the
// source is parsed (no incremental attempt), never a result.
std::string strip_comments(const std::string& source, StripStyle style, bool* unbalanced = nullptr);

}  // namespace ppocoder
