// Edits that turn one source into another, for tree-sitter's incremental parsing.
// Plain C++ over the tree-sitter C API types. No Python in this file.
#pragma once
#include <tree_sitter/api.h>

#include <string>
#include <vector>

namespace ppocoder {

// Byte offset -> (row, column) as tree-sitter counts them (rows split at '\n').
TSPoint point_at(const std::string& s, uint32_t byte);

// The edits, in the order to pass them to ts_tree_edit (back to front, so that
// each is in the coordinates of the document after the previous ones), that
// replace the changed parts of `old_src` by those of `new_src`: a line diff
// (Myers) inside the common byte prefix and suffix, each changed run of lines
// narrowed to its changed bytes. With `max_edits` = 1, or when the line diff
// is large, a single edit spans the region between the common prefix and suffix.
std::vector<TSInputEdit> source_edits(const std::string& old_src, const std::string& new_src, size_t max_edits);

struct ParsedBase;
struct FlatTree;
// Parses `src`, incrementally from `base` (a tree of base->src) when given; a fresh
// parse when there is no base or when either tree has an error.
TSTree* parse_source(TSParser* parser, const std::string& src, const ParsedBase* base);
// True when two flat trees are identical node for node (tests of the above).
bool same_flat(const FlatTree& a, const FlatTree& b);

}  // namespace ppocoder
