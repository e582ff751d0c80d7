// Parsing helpers over the tree-sitter C API. No Python in this file.
#pragma once
#include <tree_sitter/api.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ppocoder {

// Parses each source and frees the tree: the bare cost of parsing, for benchmarks.
// Returns the number of sources whose tree has an error node (-1 on a bad ABI).
int64_t parse_only(const TSLanguage* lang, const std::vector<std::string>& sources);

}  // namespace ppocoder
