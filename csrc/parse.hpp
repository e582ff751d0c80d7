// Parsing helpers over the tree-sitter C API. No Python in this file.
#pragma once
#include <tree_sitter/api.h>

#include <cstdint>
#include <string>

namespace ppocoder {

// Parses `source` with `lang`; returns the number of named nodes, or -1 when the
// grammar's ABI is not supported by the compiled runtime.
int64_t count_nodes(const TSLanguage* lang, const std::string& source);

}  // namespace ppocoder
