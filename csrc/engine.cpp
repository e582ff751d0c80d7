// Language tables, bottom-up subtree hashing (CodeBLEU syntax match) and the
// batched, multi-threaded matcher.
// Design and performance notes (what was measured, tried and dropped): docs/engine.md.
#include "engine.hpp"
#include "edits.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
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

// The keys of `DataFlowSpec` (core/languages.py) that the engine reads. The spec
// arrives as a dict keyed by field name: every key must be one of these, of the
// right kind, and present (the defaults live in the Python dataclass only), so a
// renamed or misspelled field is an error instead of a silently ignored table.
struct ListKey {
    const char* key;
    uint32_t roles;  // Role bits of the node types listed under the key
};
constexpr ListKey kListKeys[] = {
    {"string_types", kRoleString},
    {"comment_types", kRoleComment},
    {"identifier_types", kRoleIdentifier},
    {"def_types", kRoleDef},
    {"assignment_types", kRoleAssign},
    {"last_child_assignment_types", kRoleAssign | kRoleLastChildAssign},
    {"increment_types", kRoleIncrement},
    {"if_types", kRoleIf},
    {"if_branch_types", kRoleIfBranch},
    {"for_types", kRoleFor},
    {"for_init_types", kRoleForInit},
    {"enhanced_for_types", kRoleEnhancedFor},
    {"enhanced_for_variable_types", kRoleEnhancedVar},
    {"while_types", kRoleWhile},
    {"do_first_types", kRoleDoFirst},
    {"separator_types", kRoleComma},
    {"block_types", kRoleBlock},
};
constexpr const char* kOptionKeys[] = {
    "def_style", "def_name_field", "def_value_field", "assignment_style", "assignment_left_field",
    "assignment_right_field", "if_branch_sticky", "if_merge", "for_style", "for_left_field",
    "for_right_field", "enhanced_for_style", "enhanced_for_name_field", "enhanced_for_value_field",
    "enhanced_for_body_field",
};

bool is_list_key(const std::string& key) {
    for (const ListKey& k : kListKeys)
        if (key == k.key) return true;
    return false;
}

bool is_option_key(const std::string& key) {
    for (const char* k : kOptionKeys)
        if (key == k) return true;
    return false;
}

std::string known_keys() {
    std::vector<std::string> keys;
    for (const ListKey& k : kListKeys) keys.emplace_back(k.key);
    for (const char* k : kOptionKeys) keys.emplace_back(k);
    std::sort(keys.begin(), keys.end());
    std::string out;
    for (const auto& k : keys) out += (out.empty() ? "" : ", ") + k;
    return out;
}

// Every key of `t` is known and of its kind; every known key is there.
void check_keys(const DataFlowTables& t) {
    for (const auto& [key, value] : t.lists) {
        if (is_option_key(key))
            throw std::invalid_argument("data-flow spec key '" + key + "' must be a string or bool, got a list");
        if (!is_list_key(key))
            throw std::invalid_argument("unknown data-flow spec key '" + key + "' (known keys: " + known_keys() + ")");
    }
    for (const auto& [key, value] : t.options) {
        if (is_list_key(key))
            throw std::invalid_argument("data-flow spec key '" + key + "' must be a list of node type names, got '" +
                                        value + "'");
        if (!is_option_key(key))
            throw std::invalid_argument("unknown data-flow spec key '" + key + "' (known keys: " + known_keys() + ")");
    }
    for (const ListKey& k : kListKeys)
        if (t.lists.count(k.key) == 0) throw std::invalid_argument(std::string("data-flow spec lacks key '") + k.key + "'");
    for (const char* k : kOptionKeys)
        if (t.options.count(k) == 0) throw std::invalid_argument(std::string("data-flow spec lacks key '") + k + "'");
}

const std::string& option(const DataFlowTables& t, const char* key) { return t.options.at(key); }

// `value` must be one of `allowed` (a spec option with a fixed set of values).
const std::string& choice(const DataFlowTables& t, const char* key, std::initializer_list<const char*> allowed) {
    const std::string& value = option(t, key);
    std::string names;
    for (const char* a : allowed) {
        if (value == a) return value;
        names += std::string(names.empty() ? "'" : ", '") + a + "'";
    }
    throw std::invalid_argument(std::string("data-flow spec key '") + key + "' must be " + names + ", got '" + value +
                                "'");
}

TSFieldId field(const TSLanguage* ts, const std::string& name) {
    if (name.empty()) return 0;
    return ts_language_field_id_for_name(ts, name.data(), static_cast<uint32_t>(name.size()));
}

}  // namespace

Language make_language(const TSLanguage* ts, StripStyle strip, const DataFlowTables& t) {
    check_keys(t);
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
    for (const ListKey& k : kListKeys)
        for (const auto& name : t.lists.at(k.key)) role_by_name[name] |= k.roles;
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
    lang.tuple_assignment = choice(t, "assignment_style", {"pairwise", "tuple"}) == "tuple";
    lang.python_for = choice(t, "for_style", {"rewalk_after_init", "tuple"}) == "tuple";
    lang.if_branch_sticky = choice(t, "if_branch_sticky", {"true", "false"}) == "true";
    lang.if_always_keep_original = choice(t, "if_merge", {"else_tag", "always"}) == "always";
    lang.def_positional = choice(t, "def_style", {"fields", "positional"}) == "positional";
    lang.enhanced_positional = choice(t, "enhanced_for_style", {"fields", "positional"}) == "positional";
    lang.def_name = field(ts, option(t, "def_name_field"));
    lang.def_value = field(ts, option(t, "def_value_field"));
    lang.assign_left = field(ts, option(t, "assignment_left_field"));
    lang.assign_right = field(ts, option(t, "assignment_right_field"));
    lang.for_left = field(ts, option(t, "for_left_field"));
    lang.for_right = field(ts, option(t, "for_right_field"));
    lang.each_name = field(ts, option(t, "enhanced_for_name_field"));
    lang.each_value = field(ts, option(t, "enhanced_for_value_field"));
    lang.each_body = field(ts, option(t, "enhanced_for_body_field"));
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
    a.dataflow = normalize_flow(build_flow(lang, src, flat, false));
    std::sort(a.dataflow.begin(), a.dataflow.end());
    if (keep != nullptr) keep->src = std::move(src);
    if (flat.nodes.capacity() > kScratchKeep) FlatTree().nodes.swap(flat.nodes);
    return a;
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
        rows[i].dfg_candidate_total = static_cast<int64_t>(c.dataflow.size());
    }
    return rows;
}

}  // namespace ppocoder
