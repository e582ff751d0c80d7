// Language tables, bottom-up subtree hashing (CodeBLEU syntax match) and the
// batched, multi-threaded matcher.
//
// Performance notes (instruction counts under callgrind, shared parity corpus,
// per pair = both sides; bare tree-sitter parse = 1.0):
// - first version, tree-sitter node API in every pass: ~3x;
// - one cursor walk into a flat pre-order array, then hashing and the data-flow
//   walk on plain memory: ~2.2x (ts_node_child(i) is O(i); the cursor is not);
// - small inline vectors for parent lists and definition sets, dense per-name
//   states, sorts only where children can be out of order, memo only for nested
//   loops, a no-allocation merge of the two loop passes: ~1.75x (Python),
//   ~1.7x (Java).
// - incremental parsing (match_batch): each reference is parsed first and its
//   tree kept; every candidate paired with it is parsed from a copy of that tree
//   edited to the candidate (edits.cpp: a Myers line diff inside the common
//   prefix/suffix, one ts_tree_edit per changed run of lines, narrowed to the
//   changed bytes, applied back to front). Error recovery is not history-free
//   (random mutations in Java gave trees that differ from a fresh parse), so a
//   base or result with an error is parsed fresh; tests/test_structural_incremental.py
//   checks incremental == fresh trees on the corpus and on random mutations in
//   all seven languages. Parity corpus, unique references (bench/structural.py's
//   setting), callgrind, native work only: bare parse 892M instructions, before
//   1606M (1.80x); one prefix/suffix edit 1409M (1.58x); line-diff edits 1362M
//   (1.53x); reserving the per-node error flags 1359M (1.52x; Python 1.52x, Java
//   1.53x). CPU time (bench/structural.py, noisy shared machine): 1.96x / 1.90x /
//   1.75x (corpus Python / Java / stdlib) before, 1.63x / 1.63x / 1.63x after;
//   codebleu ratio 11.9x / 12.0x / 8.6x before, 14.2x / 14.1x / 9.4x after.
//   A candidate parse now costs ~0.43 of a fresh one (a one-byte edit:
//   ~0.1; the rest is renames and reformatting spread over many lines,
//   unrelated candidates, and error trees parsed twice).
//   Tried and dropped: editing the base tree in place on its last use instead of
//   a copy (saves the path clones in ts_tree_edit: 0.2%, not worth the state);
//   more than 16 edits or a line diff beyond 48 steps (no change).
// - flatten asks the cursor only for children and siblings that exist (it keeps
//   ts_node_child_count per open node): a failing goto_next_sibling walks up
//   through hidden ancestors. 1359M -> 1330M (1.49x; Python 1.49x, Java 1.50x
//   by the same measure); subtree hashes and data-flow items equal the previous
//   engine's on 13.6k corpus, mutated and random-garbage sources in all seven
//   languages. CPU time after both steps: 1.56x / 1.60x / 1.62x bare parse,
//   codebleu ratio 14.4x / 14.4x / 11.7x (corpus Python / Java / stdlib); CPU
//   time stays ~0.1x above the instruction ratio (cache misses in our passes).
// - comment stripping looks lines up from the last answer (tokens come in order)
//   instead of a binary search per token; data-flow text interning uses an
//   open-addressing table instead of a node map (one allocation per distinct
//   name); flatten, subtree hashing and interning reuse per-thread scratch
//   buffers, reached through an opaque accessor (thread_scratch: a thread_local
//   used directly in a shared library costs a __tls_get_addr per access, which
//   ate the gain). Callgrind, native work of match vs parse_only: 1.34x -> 1.28x
//   (stdlib), 1.47x -> 1.40x (corpus Python), 1.48x -> 1.42x (corpus Java), -5%
//   instructions, same results. CPU time, one build per process: 1.58x -> 1.50x.
//   Tried and dropped: per-thread buffers for the walker's token arrays (0.1%).
// - flatten reads the runtime's subtrees directly (tree_walk.cpp; private headers
//   of the compiled-in runtime, the cursor walk above is kept for system-library
//   builds and as the tests' reference), building nodes in place (a FlatNode made
//   on the stack and copied in cost a store-forwarding stall per node); the
//   tree-sitter runtime gets a per-thread caching allocator (ts_alloc.cpp: tree
//   deletion freed hundreds of blocks at once past glibc's 7-entry cache); the
//   data-flow walker is one per thread with its buffers kept, text ids in order of
//   appearance (no sort of the texts; name lists sorted by text where codebleu
//   sorts); Python's comment pass copies plain lines whole; code whose brackets
//   do not balance (or Python that tokenize rejects) skips the incremental attempt.
//   CPU time, bench/structural.py with codebleu timed on the same pairs: 1.53x /
//   1.55x / 1.52x bare parse -> 1.26x / 1.28x / 1.25x (corpus Python / Java /
//   stdlib), codebleu ratio 20.5x / 16.5x / 12.9x -> 27.3x / 21.1x / 16.5x.
//   Callgrind shows match at ~1.08x the instructions of a bare parse of both
//   sides; CPU time stays above that (incremental parsing and the analysis passes
//   run at a lower IPC than a tight parse loop).
// What is left (stdlib pairs): the parses (~63% of a match; error recovery of
// broken candidates, which are parsed twice when the cheap checks miss them),
// the data-flow walk (~15%, a third of it codebleu's second walk of loop bodies),
// flattening (~5%), comment stripping (~4%), tree deletion (~3%). Tried and
// dropped: S-expression strings (allocation-bound); predicting broken Python from
// its indentation (tree-sitter's error notion differs from Python's: as many false
// alarms as hits); a per-process worker pool (no gain at batch sizes >= 100);
// stopping the incremental parse from the progress callback once tree-sitter is in
// error recovery (the callback comes every 100 parser operations: it stopped 14 of
// 56 broken stdlib candidates, no measurable gain for a subtle reset rule).
#include "engine.hpp"
#include "edits.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <unordered_map>

namespace ppocoder {

uint64_t hash_bytes(const char* data, size_t len) {  // FNV-1a, then mixed
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; ++i) {
        h ^= static_cast<unsigned char>(data[i]);
        h *= 0x100000001b3ULL;
    }
    return mix64(h ^ len);
}

namespace {

const std::vector<std::string>& list_or_empty(const DataFlowTables& t, const char* key) {
    static const std::vector<std::string> empty;
    auto it = t.lists.find(key);
    return it == t.lists.end() ? empty : it->second;
}

std::string option(const DataFlowTables& t, const char* key, const char* fallback) {
    auto it = t.options.find(key);
    return it == t.options.end() ? std::string(fallback) : it->second;
}

TSFieldId field(const TSLanguage* ts, const std::string& name) {
    if (name.empty()) return 0;
    return ts_language_field_id_for_name(ts, name.data(), static_cast<uint32_t>(name.size()));
}

bool flag(const std::string& v, const char* key) {
    if (v == "true" || v == "1") return true;
    if (v == "false" || v == "0" || v.empty()) return false;
    throw std::invalid_argument(std::string("data-flow option ") + key + " must be a boolean, got " + v);
}

}  // namespace

Language make_language(const TSLanguage* ts, StripStyle strip, const DataFlowTables& t) {
    Language lang;
    lang.ts = ts;
    lang.strip = strip;
    // Indexed by the flat tree's symbol: the grammar's symbols, then ERROR (builtin
    // 65535) and _ERROR (65534), which lie beyond ts_language_symbol_count.
    uint32_t count = ts_language_symbol_count(ts);
    if (count + 2 > 65534) throw std::invalid_argument("grammar has too many symbols");
    lang.symbol_count = count;
    lang.symbol_hash.assign(count + 2, 0);
    lang.roles.assign(count + 2, 0);
    lang.symbol_names.assign(count + 2, std::string());
    std::unordered_map<std::string, uint32_t> role_by_name;
    auto add = [&](const char* key, uint32_t bit) {
        for (const auto& name : list_or_empty(t, key)) role_by_name[name] |= bit;
    };
    add("string_types", kRoleString);
    add("comment_types", kRoleComment);
    add("identifier_types", kRoleIdentifier);
    add("def_types", kRoleDef);
    add("assignment_types", kRoleAssign);
    add("last_child_assignment_types", kRoleAssign | kRoleLastChildAssign);
    add("increment_types", kRoleIncrement);
    add("if_types", kRoleIf);
    add("if_branch_types", kRoleIfBranch);
    add("for_types", kRoleFor);
    add("for_init_types", kRoleForInit);
    add("enhanced_for_types", kRoleEnhancedFor);
    add("enhanced_for_variable_types", kRoleEnhancedVar);
    add("while_types", kRoleWhile);
    add("do_first_types", kRoleDoFirst);
    add("separator_types", kRoleComma);
    add("block_types", kRoleBlock);
    for (uint32_t slot = 0; slot < count + 2; ++slot) {
        uint32_t sym = slot < count ? slot : slot == count ? 65535u : 65534u;
        const char* name = ts_language_symbol_name(ts, static_cast<TSSymbol>(sym));
        if (name == nullptr) name = "";
        size_t len = std::strlen(name);
        lang.symbol_hash[slot] = hash_bytes(name, len);
        lang.symbol_names[slot] = name;
        auto it = role_by_name.find(name);
        uint32_t r = it == role_by_name.end() ? 0 : it->second;
        if (std::strstr(name, "else") != nullptr) r |= kRoleHasElse;
        lang.roles[slot] = r;
    }
    lang.dataflow = !t.lists.empty();
    lang.tuple_assignment = option(t, "assignment_style", "pairwise") == "tuple";
    if (!lang.tuple_assignment && option(t, "assignment_style", "pairwise") != "pairwise")
        throw std::invalid_argument("assignment_style must be 'pairwise' or 'tuple'");
    std::string for_style = option(t, "for_style", "rewalk_after_init");
    if (for_style != "rewalk_after_init" && for_style != "tuple")
        throw std::invalid_argument("for_style must be 'rewalk_after_init' or 'tuple'");
    lang.python_for = for_style == "tuple";
    lang.if_branch_sticky = flag(option(t, "if_branch_sticky", "false"), "if_branch_sticky");
    std::string merge = option(t, "if_merge", "else_tag");
    if (merge != "else_tag" && merge != "always")
        throw std::invalid_argument("if_merge must be 'else_tag' or 'always'");
    lang.if_always_keep_original = merge == "always";
    lang.def_positional = option(t, "def_style", "fields") == "positional";
    lang.enhanced_positional = option(t, "enhanced_for_style", "fields") == "positional";
    lang.def_name = field(ts, option(t, "def_name_field", ""));
    lang.def_value = field(ts, option(t, "def_value_field", ""));
    lang.assign_left = field(ts, option(t, "assignment_left_field", ""));
    lang.assign_right = field(ts, option(t, "assignment_right_field", ""));
    lang.for_left = field(ts, option(t, "for_left_field", ""));
    lang.for_right = field(ts, option(t, "for_right_field", ""));
    lang.each_name = field(ts, option(t, "enhanced_for_name_field", ""));
    lang.each_value = field(ts, option(t, "enhanced_for_value_field", ""));
    lang.each_body = field(ts, option(t, "enhanced_for_body_field", ""));
    init_walk_tables(lang);
    return lang;
}

// ---- the flat tree ----

void begin_flat(FlatTree& t, std::vector<uint8_t>& err, uint32_t bytes) {
    err.clear();
    t.nodes.clear();
    t.error_leaves.clear();
    t.max_depth = 0;
    t.nodes.reserve(bytes / 3 + 16);  // about one node per 3-4 bytes of code
    err.reserve(t.nodes.capacity());
}

void finish_error_node(FlatTree& t, std::vector<uint8_t>& err, uint32_t error_symbol, uint32_t i, uint32_t parent,
                       char* (*printed)(const void*), const void* arg) {
    FlatNode& f = t.nodes[i];
    bool is_error = f.symbol == error_symbol;
    bool error_leaf = is_error && f.child_count == 0;
    bool hidden_error = (err[i] & 1) && !(err[i] & 2) && !is_error && !(f.flags & kMissing);
    if (error_leaf || hidden_error) {
        char* text = printed(arg);
        if (std::strncmp(text, "(ERROR)", 8) != 0)  // "(ERROR)" hashes like any childless ERROR
            t.error_leaves.emplace_back(i, hash_bytes(text, std::strlen(text)));
        free_tree_sitter_string(text);
    }
    if (parent != kNoNode && ((err[i] & 1) || is_error || (f.flags & kMissing))) err[parent] |= 2;
}

void flatten_into(TSNode root, const Language& lang, FlatTree& t) {
    // Scratch kept per thread (cleared, capacity reused): no allocation per source.
    auto& stack = thread_scratch<std::vector<uint32_t>, 0>();  // open ancestors
    auto& err = thread_scratch<std::vector<uint8_t>, 0>();
    auto& left = thread_scratch<std::vector<uint32_t>, 1>();  // per open ancestor: visible children not yet entered
    stack.clear();
    left.clear();
    begin_flat(t, err, ts_node_end_byte(root));
    std::vector<FlatNode>& nodes = t.nodes;
    stack.reserve(64);
    left.reserve(64);
    TSTreeCursor cursor = ts_tree_cursor_new(root);
    auto enter = [&](bool is_root) {
        TSNode n = ts_tree_cursor_current_node(&cursor);
        auto i = static_cast<uint32_t>(nodes.size());
        FlatNode& f = nodes.emplace_back();
        f.start = ts_node_start_byte(n);
        f.end = ts_node_end_byte(n);
        f.first_child = f.last_child = f.next_sibling = kNoNode;
        f.subtree_end = 0;
        f.child_count = 0;
        TSSymbol sym = ts_node_symbol(n);
        f.symbol = static_cast<uint16_t>(sym < lang.symbol_count ? sym : sym == 65535 ? lang.symbol_count
                                                                                    : lang.symbol_count + 1);
        f.field = is_root ? 0 : ts_tree_cursor_current_field_id(&cursor);
        f.flags = static_cast<uint8_t>((ts_node_is_named(n) ? kNamed : 0) | (ts_node_is_missing(n) ? kMissing : 0));
        err.push_back(ts_node_has_error(n) ? 1 : 0);
        if (!left.empty()) --left.back();
        left.push_back(ts_node_child_count(n));
        if (!stack.empty()) link_child(nodes, stack.back(), i);
        stack.push_back(i);
        if (stack.size() > t.max_depth) t.max_depth = static_cast<uint32_t>(stack.size());
    };
    auto printed = [](const void* c) {
        return ts_node_string(ts_tree_cursor_current_node(static_cast<const TSTreeCursor*>(c)));
    };
    auto leave = [&]() {
        uint32_t i = stack.back();
        stack.pop_back();
        left.pop_back();
        finish_flat_node(t, err, lang.symbol_count, i, stack.empty() ? kNoNode : stack.back(), printed, &cursor);
    };
    // The visible child count of each open node says when its last child is done,
    // so the cursor is never asked for a sibling or child that does not exist
    // (a failing goto_next_sibling walks up through the hidden ancestors).
    enter(true);
    bool consistent = true;
    while (consistent) {
        if (left.back() > 0) {
            consistent = ts_tree_cursor_goto_first_child(&cursor);
            if (consistent) enter(false);
            continue;
        }
        for (;;) {
            leave();
            if (stack.empty()) break;
            if (left.back() > 0) {
                consistent = ts_tree_cursor_goto_next_sibling(&cursor);
                if (consistent) enter(false);
                break;
            }
            ts_tree_cursor_goto_parent(&cursor);
        }
        if (stack.empty()) break;
    }
    ts_tree_cursor_delete(&cursor);
    if (err.capacity() > kScratchKeep) std::vector<uint8_t>().swap(err);
    if (!consistent) throw std::logic_error("tree cursor and ts_node_child_count disagree");
    std::sort(t.error_leaves.begin(), t.error_leaves.end());
}

// ---- AST match: structural hash of every subtree, bottom-up ----
//
// A subtree's identity is the S-expression py-tree-sitter prints for it
// (`str(node)`): named nodes, plus MISSING nodes, with their field names; token
// text and anonymous nodes are left out. The hash mirrors that string without
// building it: a node's hash folds its visible children's (field, hash) items
// with a polynomial rolling hash, so that the children of an anonymous node
// splice into its parent's sequence exactly as they do in the string.

namespace {
constexpr uint64_t kMissingNamed = 0x6d697373696e6731ULL;
constexpr uint64_t kMissingAnon = 0x6d697373696e6732ULL;
constexpr uint64_t kUnexpected = 0x756e657870656374ULL;
constexpr uint64_t kClose = 0x636c6f7365640a0aULL;
constexpr uint64_t kBase = 0x100000001b3ULL * 2 + 1;  // odd multiplier of the rolling hash

struct Contribution {
    uint64_t sum;    // rolling hash of the items this node adds to its parent's sequence
    uint64_t power;  // kBase ^ (number of items)
};
}  // namespace

void subtree_hashes(const Language& lang, const FlatTree& tree, std::vector<uint64_t>& out) {
    const auto& nodes = tree.nodes;
    auto& contrib = thread_scratch<std::vector<Contribution>>();
    contrib.resize(nodes.size());  // every entry is written before it is read
    out.reserve(nodes.size() / 2 + 1);
    size_t next_error = tree.error_leaves.size();  // walks error_leaves backwards
    // Pre-order: every descendant has a larger index, so a reverse sweep is bottom-up.
    for (size_t k = nodes.size(); k-- > 0;) {
        const FlatNode& n = nodes[k];
        uint64_t sum = 0, power = 1;
        for (uint32_t c = n.first_child; c != kNoNode; c = nodes[c].next_sibling) {
            sum = sum * contrib[c].power + contrib[c].sum;
            power *= contrib[c].power;
        }
        bool named = n.flags & kNamed, missing = n.flags & kMissing;
        uint64_t head = lang.symbol_hash[n.symbol];
        if (missing) head ^= named ? kMissingNamed : kMissingAnon;
        if (next_error > 0 && tree.error_leaves[next_error - 1].first == k)
            head = kUnexpected ^ tree.error_leaves[--next_error].second;
        uint64_t h = mix64(mix64(head) ^ mix64(sum + kClose));
        if (k == 0 || n.child_count > 0) out.push_back(h);
        if (named || missing) {
            contrib[k] = {mix64(h + 0x9e3779b97f4a7c15ULL * (uint64_t(n.field) + 1)), kBase};
        } else {
            contrib[k] = {sum, power};  // anonymous: its children stand in its place
        }
    }
    if (contrib.capacity() > kScratchKeep) std::vector<Contribution>().swap(contrib);
}

Analysis analyze(const Language& lang, const std::string& source, TSParser* parser, const ParsedBase* base,
                 ParsedBase* keep) {
    Analysis a;
    // Code that will parse with errors is parsed fresh right away: an incremental
    // parse of it would be thrown away (parse_source), after costly error recovery.
    bool unbalanced = false;
    std::string src = strip_comments(source, lang.strip, &unbalanced);
    TSTree* tree = parse_source(parser, src, unbalanced ? nullptr : base);
    FlatTree& flat = thread_scratch<FlatTree>();  // capacity reused across sources
    flatten_tree(tree, lang, flat);
    if (keep != nullptr) {
        if (keep->tree) ts_tree_delete(keep->tree);
        keep->tree = tree;
    } else {
        ts_tree_delete(tree);
    }
    subtree_hashes(lang, flat, a.subtrees);
    std::sort(a.subtrees.begin(), a.subtrees.end());
    if (lang.dataflow) {
        FlowGraph g = build_flow(lang, src, flat, false);
        a.dataflow = normalize_flow(g);
        std::sort(a.dataflow.begin(), a.dataflow.end());
    }
    if (keep != nullptr) keep->src = std::move(src);
    if (flat.nodes.capacity() > kScratchKeep) FlatTree().nodes.swap(flat.nodes);
    return a;
}

Analysis analyze(const Language& lang, const std::string& source, TSParser* parser) {
    return analyze(lang, source, parser, nullptr, nullptr);
}

namespace {
TSParser* new_parser(const Language& lang) {
    TSParser* parser = ts_parser_new();
    if (!ts_parser_set_language(parser, lang.ts)) {
        ts_parser_delete(parser);
        throw std::runtime_error("grammar ABI not supported by the compiled tree-sitter runtime");
    }
    return parser;
}
}  // namespace

Analysis analyze(const Language& lang, const std::string& source) {
    TSParser* parser = new_parser(lang);
    Analysis a = analyze(lang, source, parser);
    ts_parser_delete(parser);
    return a;
}

namespace {
// Worker stacks are large so that the data-flow walk (recursive, like the
// grammar it follows) survives deep nesting; the memory is only reserved.
constexpr size_t kWorkerStack = size_t(512) << 20;

// Runs `fn` on a fresh thread with a kWorkerStack stack and waits for it.
template <typename Fn>
void run_on_big_stack(Fn&& fn) {
    struct Call {
        Fn* fn;
        std::string error;
        bool failed = false;
    } call{&fn, {}, false};
    auto trampoline = [](void* arg) -> void* {
        auto* c = static_cast<Call*>(arg);
        try {
            (*c->fn)();
        } catch (const std::exception& e) {
            c->failed = true;
            c->error = e.what();
        }
        return nullptr;
    };
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, kWorkerStack);
    pthread_t id;
    int rc = pthread_create(&id, &attr, trampoline, &call);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        fn();  // no thread: run here
        return;
    }
    pthread_join(id, nullptr);
    if (call.failed) throw std::runtime_error(call.error);
}
}  // namespace

namespace {
// A fresh parse of `src`, flattened as the matcher flattens (test and inspection entry points).
FlatTree parse_flat(const Language& lang, const std::string& src) {
    TSParser* parser = new_parser(lang);
    TSTree* tree = ts_parser_parse_string(parser, nullptr, src.data(), static_cast<uint32_t>(src.size()));
    ts_parser_delete(parser);
    FlatTree flat;
    try {
        flatten_tree(tree, lang, flat);
    } catch (...) {
        ts_tree_delete(tree);
        throw;
    }
    ts_tree_delete(tree);
    return flat;
}
}  // namespace

std::vector<uint64_t> subtree_hashes_of(const Language& lang, const std::string& src) {
    FlatTree flat = parse_flat(lang, src);
    std::vector<uint64_t> out;
    subtree_hashes(lang, flat, out);
    std::reverse(out.begin(), out.end());
    return out;
}

std::vector<FlowItem> dataflow_items(const Language& lang, const std::string& src) {
    FlatTree flat = parse_flat(lang, src);
    FlowGraph g;
    run_on_big_stack([&] { g = build_flow(lang, src, flat, true); });
    std::vector<FlowItem> items;
    for (const auto& it : g.items) {
        FlowItem f{g.texts[it.code], it.idx, it.computed_from, {}};
        for (uint32_t n : it.names) f.parents.push_back(g.texts[n]);
        items.push_back(std::move(f));
    }
    return items;
}

// ---- batching ----

constexpr size_t kNoGroup = ~size_t(0);

namespace {

// Count of a's elements (with multiplicity) present in b; both sorted.
int64_t count_present(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
    int64_t n = 0;
    size_t j = 0;
    for (uint64_t x : a) {
        while (j < b.size() && b[j] < x) ++j;
        if (j < b.size() && b[j] == x) ++n;
    }
    return n;
}

// Size of the multiset intersection; both sorted.
int64_t count_common(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
    int64_t n = 0;
    size_t i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
        if (a[i] < b[j]) ++i;
        else if (b[j] < a[i]) ++j;
        else { ++n; ++i; ++j; }
    }
    return n;
}

// A unit of work: a reference (analysed first, its tree kept) and the candidates
// parsed incrementally from that tree.
struct Job {
    const Language* lang;
    const std::vector<const std::string*>* sources;
    const std::vector<std::vector<size_t>>* groups;  // [base slot, incremental slots...]
    std::vector<Analysis>* results;
    std::atomic<size_t> next{0};
    std::atomic<bool> failed{false};
    std::string error;
    pthread_mutex_t error_lock = PTHREAD_MUTEX_INITIALIZER;
};

void* worker(void* arg) {
    auto* job = static_cast<Job*>(arg);
    TSParser* parser = nullptr;
    try {
        parser = new_parser(*job->lang);
        for (;;) {
            size_t g = job->next.fetch_add(1);
            if (g >= job->groups->size() || job->failed.load()) break;
            const std::vector<size_t>& group = (*job->groups)[g];
            ParsedBase base;
            auto& results = *job->results;
            const auto& sources = *job->sources;
            results[group[0]] = analyze(*job->lang, *sources[group[0]], parser, nullptr,
                                        group.size() > 1 ? &base : nullptr);
            for (size_t k = 1; k < group.size(); ++k)
                results[group[k]] = analyze(*job->lang, *sources[group[k]], parser, &base, nullptr);
        }
    } catch (const std::exception& e) {
        pthread_mutex_lock(&job->error_lock);
        if (!job->failed.exchange(true)) job->error = e.what();
        pthread_mutex_unlock(&job->error_lock);
    }
    if (parser) ts_parser_delete(parser);
    return nullptr;
}

}  // namespace

namespace {
bool incremental_check(const Language& lang, const std::string& candidate, const std::string& reference) {
    TSParser* parser = new_parser(lang);
    ParsedBase base;
    TSTree* fresh = nullptr;
    TSTree* inc = nullptr;
    bool same = false;
    try {
        analyze(lang, reference, parser, nullptr, &base);
        std::string src = strip_comments(candidate, lang.strip);
        fresh = ts_parser_parse_string(parser, nullptr, src.data(), static_cast<uint32_t>(src.size()));
        inc = parse_source(parser, src, &base);
        FlatTree a, b;
        flatten_tree(fresh, lang, a);
        flatten_tree(inc, lang, b);
        same = same_flat(a, b);
        if (same) {
            Analysis x = analyze(lang, candidate, parser, nullptr, nullptr);
            Analysis y = analyze(lang, candidate, parser, &base, nullptr);
            same = x.subtrees == y.subtrees && x.dataflow == y.dataflow;
        }
    } catch (...) {
        if (fresh) ts_tree_delete(fresh);
        if (inc) ts_tree_delete(inc);
        ts_parser_delete(parser);
        throw;
    }
    ts_tree_delete(fresh);
    ts_tree_delete(inc);
    ts_parser_delete(parser);
    return same;
}
}  // namespace

bool walk_matches_cursor(const Language& lang, const std::string& src) {
    TSParser* parser = new_parser(lang);
    TSTree* tree = ts_parser_parse_string(parser, nullptr, src.data(), static_cast<uint32_t>(src.size()));
    ts_parser_delete(parser);
    bool same = false;
    try {
        FlatTree direct, cursor;
        flatten_tree(tree, lang, direct);
        flatten_into(ts_tree_root_node(tree), lang, cursor);
        same = same_flat(direct, cursor);
    } catch (...) {
        ts_tree_delete(tree);
        throw;
    }
    ts_tree_delete(tree);
    return same;
}

bool incremental_matches_fresh(const Language& lang, const std::string& candidate, const std::string& reference) {
    bool same = false;
    run_on_big_stack([&] { same = incremental_check(lang, candidate, reference); });
    return same;
}

std::vector<MatchRow> match_batch(const Language& lang, const std::vector<std::string>& candidates,
                                  const std::vector<std::string>& references, int threads) {
    if (candidates.size() != references.size())
        throw std::invalid_argument("candidates and references must have the same length");
    // Deduplicate by content: k samples for one prompt share one reference.
    std::unordered_map<std::string_view, size_t> slot;
    std::vector<const std::string*> unique;
    auto intern = [&](const std::string& s) {
        auto [it, fresh] = slot.emplace(std::string_view(s), unique.size());
        if (fresh) unique.push_back(&s);
        return it->second;
    };
    std::vector<size_t> cand_slot(candidates.size()), ref_slot(references.size());
    for (size_t i = 0; i < references.size(); ++i) ref_slot[i] = intern(references[i]);
    for (size_t i = 0; i < candidates.size(); ++i) cand_slot[i] = intern(candidates[i]);

    // Each candidate that is no reference itself is parsed incrementally from the
    // tree of the first reference it is paired with.
    std::vector<size_t> group_of(unique.size(), kNoGroup);
    std::vector<std::vector<size_t>> groups;
    for (size_t i = 0; i < references.size(); ++i) {
        if (group_of[ref_slot[i]] != kNoGroup) continue;
        group_of[ref_slot[i]] = groups.size();
        groups.push_back({ref_slot[i]});
    }
    for (size_t i = 0; i < candidates.size(); ++i) {
        size_t c = cand_slot[i];
        if (group_of[c] != kNoGroup) continue;
        group_of[c] = group_of[ref_slot[i]];
        groups[group_of[c]].push_back(c);
    }

    std::vector<Analysis> results(unique.size());
    Job job;
    job.lang = &lang;
    job.sources = &unique;
    job.groups = &groups;
    job.results = &results;
    size_t n_threads = static_cast<size_t>(std::max(1, threads));
    n_threads = std::min(n_threads, std::max<size_t>(1, groups.size()));
    std::vector<pthread_t> ids;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, kWorkerStack);
    for (size_t t = 0; t < n_threads; ++t) {
        pthread_t id;
        if (pthread_create(&id, &attr, worker, &job) == 0) ids.push_back(id);
    }
    pthread_attr_destroy(&attr);
    if (ids.empty()) throw std::runtime_error("could not start a worker thread");
    for (pthread_t id : ids) pthread_join(id, nullptr);
    if (job.failed.load()) throw std::runtime_error(job.error);

    std::vector<MatchRow> rows(candidates.size());
    for (size_t i = 0; i < candidates.size(); ++i) {
        const Analysis& c = results[cand_slot[i]];
        const Analysis& r = results[ref_slot[i]];
        rows[i].ast_match = count_present(r.subtrees, c.subtrees);
        rows[i].ast_total = static_cast<int64_t>(r.subtrees.size());
        rows[i].dfg_match = count_common(r.dataflow, c.dataflow);
        rows[i].dfg_total = static_cast<int64_t>(r.dataflow.size());
    }
    return rows;
}

}  // namespace ppocoder
