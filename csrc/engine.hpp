// The structural engine: per-language tables, per-document analysis (subtree
// hashes and data-flow edges) and batched matching. Plain C++, no Python.
#pragma once
#include <tree_sitter/api.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "small_vector.hpp"
#include "strip.hpp"

namespace ppocoder {

// Node-type tables of the generic data-flow walker, as handed over from
// core/languages.py (`DataFlowSpec`). Lists hold node-type names; the walker
// knows no language.
struct DataFlowTables {
    std::map<std::string, std::vector<std::string>> lists;
    std::map<std::string, std::string> options;
};

// Role bits of a node type for the data-flow walker.
enum Role : uint32_t {
    kRoleString = 1u << 0,          // a literal kept whole as one token
    kRoleComment = 1u << 1,         // never a token
    kRoleIdentifier = 1u << 2,      // a first use defines the name
    kRoleDef = 1u << 3,             // declaration with optional initial value
    kRoleAssign = 1u << 4,          // assignment
    kRoleLastChildAssign = 1u << 5, // assignment whose right side is the last child
    kRoleIncrement = 1u << 6,       // x++ and friends
    kRoleIf = 1u << 7,              // branching statement
    kRoleIfBranch = 1u << 8,        // child that starts an alternative branch
    kRoleFor = 1u << 9,             // counted loop
    kRoleForInit = 1u << 10,        // the init child after which a counted loop is re-walked
    kRoleEnhancedFor = 1u << 11,    // for-each loop
    kRoleEnhancedVar = 1u << 12,    // positional for-each variable (PHP)
    kRoleWhile = 1u << 13,          // loop walked twice
    kRoleDoFirst = 1u << 14,        // child walked before its siblings
    kRoleComma = 1u << 15,          // separator skipped when splitting tuples
    kRoleBlock = 1u << 16,          // body of a tuple-style for loop
    kRoleHasElse = 1u << 17,        // type name contains "else"
};

// The parsed tree copied once into a flat pre-order array: every later pass
// (subtree hashing, the data-flow walk) reads plain memory instead of calling
// the tree-sitter node API.
struct FlatNode {
    uint32_t start, end;         // byte span
    uint32_t first_child;        // kNoNode when none
    uint32_t last_child;
    uint32_t next_sibling;       // kNoNode when none
    uint32_t subtree_end;        // one past the last pre-order index of the subtree
    uint32_t child_count;
    uint16_t symbol;             // ts_node_symbol; ERROR / _ERROR map to Language::symbol_count (+1)
    uint16_t field;              // field id under the parent, 0 when none
    uint8_t flags;               // kNamed | kMissing
};
constexpr uint32_t kNoNode = 0xffffffffu;
constexpr uint8_t kNamed = 1, kMissing = 2;

struct FlatTree {
    std::vector<FlatNode> nodes;  // nodes[0] is the root
    uint32_t max_depth = 0;
    // Childless nodes of error trees whose printed form depends on hidden internals
    // ("(UNEXPECTED 'c')", hidden MISSING tokens): (node index, hash of ts_node_string).
    std::vector<std::pair<uint32_t, uint64_t>> error_leaves;
};
struct Language;
// The cursor walk (public API only) into `t` (its vectors cleared, their capacity
// reused): system-library builds use it, tests compare the direct walk with it.
void flatten_into(TSNode root, const Language& lang, FlatTree& t);
// Steps shared by both tree walks (flatten_into's cursor, tree_walk.cpp's direct one).
// `err` holds per node: 1 = an error inside its subtree, 2 = a visible child has one.
// Empties `t` for a tree of `bytes` bytes of code.
void begin_flat(FlatTree& t, std::vector<uint8_t>& err, uint32_t bytes);
// Makes node `i` the last child of node `parent`.
inline void link_child(std::vector<FlatNode>& nodes, uint32_t parent, uint32_t i) {
    FlatNode& p = nodes[parent];
    if (p.first_child == kNoNode) p.first_child = i;
    else nodes[p.last_child].next_sibling = i;
    p.last_child = i;
    ++p.child_count;
}
// Node `i`'s subtree is complete (`parent`: kNoNode for the root). In error trees
// the printed form can hold parts the node API hides: an error leaf prints
// "(UNEXPECTED 'c')", a hidden MISSING token prints "(MISSING x)". The lowest node
// holding such a part is hashed by its printed form, which `printed()` returns as
// the runtime's ts_node_string does (freed here).
// `error_symbol` is the flat symbol of ERROR (Language::symbol_count).
void finish_error_node(FlatTree& t, std::vector<uint8_t>& err, uint32_t error_symbol, uint32_t i, uint32_t parent,
                       char* (*printed)(const void*), const void* arg);
inline void finish_flat_node(FlatTree& t, std::vector<uint8_t>& err, uint32_t error_symbol, uint32_t i,
                             uint32_t parent, char* (*printed)(const void*), const void* arg) {
    FlatNode& f = t.nodes[i];
    f.subtree_end = static_cast<uint32_t>(t.nodes.size());
    if (err[i] != 0 || (f.flags & kMissing) || f.symbol == error_symbol)  // rare: trees with errors
        finish_error_node(t, err, error_symbol, i, parent, printed, arg);
}
// Per-thread scratch buffers larger than this (elements) are released after use.
constexpr size_t kScratchKeep = size_t(1) << 20;
// A per-thread scratch object (one per type and tag), reached through a call the
// optimizer cannot see into: a thread_local used directly in a shared library costs
// a __tls_get_addr call at every access in a loop.
#if defined(__GNUC__) && !defined(__clang__)
#define PPOCODER_OPAQUE __attribute__((noipa))
#else
#define PPOCODER_OPAQUE __attribute__((noinline))
#endif
template <class T, int Tag = 0>
PPOCODER_OPAQUE T& thread_scratch() {
    static thread_local T value;
    return value;
}

struct Language {
    const TSLanguage* ts = nullptr;
    StripStyle strip = StripStyle::kNone;
    uint32_t symbol_count = 0;          // the grammar's symbols; ERROR is this index
    std::vector<uint64_t> symbol_hash;  // per symbol: hash of its name
    std::vector<uint32_t> roles;        // per symbol: Role bits
    std::vector<std::string> symbol_names;  // per symbol: its type name
    bool tuple_assignment = false;      // Python-style `a, b = c, d`
    bool python_for = false;            // for loop with left/right fields (else: re-walk after init)
    bool if_branch_sticky = false;      // every child after the first branch child is a branch
    bool if_always_keep_original = false;  // merge the entry state even when an else exists
    bool def_positional = false;        // declarator = children[0] (+ children[1] when exactly 2)
    bool enhanced_positional = false;   // for-each variables found by node type (PHP)
    TSFieldId def_name = 0, def_value = 0, assign_left = 0, assign_right = 0;
    TSFieldId for_left = 0, for_right = 0;
    TSFieldId each_name = 0, each_value = 0, each_body = 0;
    // Tables of the direct tree walk (tree_walk.cpp), filled by init_walk_tables:
    // per grammar or alias symbol its public symbol and whether it is named; per
    // production, the field of each structural child (walk_stride per production).
    std::vector<uint16_t> walk_public;
    std::vector<uint8_t> walk_named;
    std::vector<uint16_t> walk_fields;
    uint32_t walk_stride = 0;
};
void init_walk_tables(Language& lang);
// Copies `tree` into `t`: the same nodes as flatten_into, read straight from the
// runtime's subtrees when it is compiled in (direct_walk_available()), else
// through the cursor (a system libtree-sitter).
void flatten_tree(const TSTree* tree, const Language& lang, FlatTree& t);
bool direct_walk_available();
// Test support: parses `src` and compares flatten_tree with flatten_into.
bool walk_matches_cursor(const Language& lang, const std::string& src);

// Builds a Language; throws std::invalid_argument on an unknown option value.
Language make_language(const TSLanguage* ts, StripStyle strip, const DataFlowTables& tables);

// One analysed source: sorted subtree hashes and sorted normalized data-flow items.
struct Analysis {
    std::vector<uint64_t> subtrees;  // every subtree with children (and the root), sorted
    std::vector<uint64_t> dataflow;  // hashes of normalized (var, relation, parents) items, sorted
};

// A parsed, stripped source kept as the starting point of an incremental parse.
struct ParsedBase {
    std::string src;        // the stripped source
    TSTree* tree = nullptr; // owned
    ParsedBase() = default;
    ParsedBase(const ParsedBase&) = delete;
    ParsedBase& operator=(const ParsedBase&) = delete;
    ~ParsedBase();
};
// Parses `source` (after comment stripping) with `parser` and computes its subtree
// hashes and data-flow items. When `base` is given, the parse starts from base->tree edited to this
// source (same result as a fresh parse, less work when the two share most text);
// when `keep` is given, the tree and stripped source are stored there.
Analysis analyze(const Language& lang, const std::string& source, TSParser* parser, const ParsedBase* base,
                 ParsedBase* keep);

// Test support: parses `candidate` fresh and incrementally from `reference`'s
// tree; true when the flat trees (and the analyses) are identical.
bool incremental_matches_fresh(const Language& lang, const std::string& candidate, const std::string& reference);

// A data-flow item before normalization, for tests and the reference comparison.
struct FlowItem {
    std::string var;
    uint32_t index;
    bool computed_from;
    std::vector<std::string> parents;
};
std::vector<FlowItem> dataflow_items(const Language& lang, const std::string& stripped_source);
// Subtree hashes of an already stripped source, in pre-order (tests compare them with S-expressions).
std::vector<uint64_t> subtree_hashes_of(const Language& lang, const std::string& stripped_source);

struct MatchRow {
    int64_t ast_match, ast_total, dfg_match, dfg_total;
    int64_t dfg_candidate_total;  // the candidate's own data-flow edges
};

// Matches candidates[i] against references[i] on `threads` worker threads.
// Identical sources (typically one reference shared by k samples) are analysed once.
std::vector<MatchRow> match_batch(const Language& lang, const std::vector<std::string>& candidates,
                                  const std::vector<std::string>& references, int threads);

// Internal: used by analyze and dataflow_items.
void subtree_hashes(const Language& lang, const FlatTree& tree, std::vector<uint64_t>& out);
struct FlowGraph {
    struct Item {
        uint32_t code, idx;
        bool computed_from;
        SmallVector<uint32_t, 2> names;  // ids into texts (numbered in order of first appearance)
    };
    std::vector<std::string> texts;  // filled only when asked for (debugging, tests)
    uint32_t text_count = 0;
    std::vector<Item> items;  // after CodeBLEU's filtering and merging by token index
};
FlowGraph build_flow(const Language& lang, const std::string& src, const FlatTree& tree, bool with_texts);
std::vector<uint64_t> normalize_flow(const FlowGraph& graph);
inline uint64_t mix64(uint64_t x) {  // splitmix64 finalizer (inline: hot in every pass)
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}
uint64_t hash_bytes(const char* data, size_t len);

// ts_alloc.cpp: gives the compiled-in runtime a per-thread caching allocator (called
// once, at module initialisation, before any parse); strings the runtime returns
// (ts_node_string) are freed with free_tree_sitter_string.
void install_tree_sitter_allocator();
void free_tree_sitter_string(char* text);

// SHA-256 of the csrc/ sources this extension was built from (fingerprint.cpp,
// generated by cmake/NativeFingerprint.cmake; checked by core/_extension.py).
const char* source_fingerprint();

}  // namespace ppocoder
