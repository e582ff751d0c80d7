// Parsing helpers over the tree-sitter C API. No Python in this file.
#pragma once
#include <tree_sitter/api.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ppocoder {

// Parses `source` with `lang`; returns the number of named nodes, or -1 when the
// grammar's ABI is not supported by the compiled runtime.
int64_t count_nodes(const TSLanguage* lang, const std::string& source);

// Parses each source and frees the tree: the bare cost of parsing, for benchmarks.
// Returns the number of sources whose tree has an error node (-1 on a bad ABI).
int64_t parse_only(const TSLanguage* lang, const std::vector<std::string>& sources);

}  // namespace ppocoder
