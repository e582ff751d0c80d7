// The one generic data-flow walker (CodeBLEU `dataflow_match` semantics),
// driven by the per-language role tables of `Language`.
//
// What the walker computes, in CodeBLEU's terms: tokens are the leaves (and
// whole string literals); a token whose text differs from its node type is a
// variable occurrence. Walking the tree threads a state {name -> set of token
// indices that may have defined it}; uses add `comesFrom` edges, assignments add
// `computedFrom` edges. Branches merge states; loop bodies are walked twice.
//
// Deliberate differences from codebleu 0.7.0, all documented in the README:
// - parent-name lists are sorted where codebleu uses set order (hash-seed
//   dependent), i.e. the `_sorted` reference variant;
// - a loop is walked twice per distinct entry state only: results are memoized
//   on (loop node, entry state), so nested loops cost polynomial, not 2^depth,
//   time while producing codebleu's result;
// - token text is taken on bytes (codebleu slices str lines with byte columns,
//   which goes wrong after non-ASCII characters);
// - no Python recursion limit: codebleu returns an empty graph when a tree is
//   deeper than ~1000 levels, we walk it (up to kMaxDepth, then empty).
#include <algorithm>
#include <cstring>
#include <string_view>
#include <unordered_map>

#include "engine.hpp"
#include "flow_state.hpp"
#include "small_vector.hpp"

namespace ppocoder {
namespace {

using flow::IdxSet;
using flow::Names;
using flow::States;
using flow::set_union;

constexpr uint32_t kMaxDepth = 200000;

struct Edge {
    uint32_t code, idx;
    bool computed;
    Names names;     // parent names (text ids), order and repeats kept
    IdxSet parents;  // parent token indices (only used as a set)
};

struct Aborted {};  // codebleu's walker raised: the whole graph is empty

struct LoopResult {
    std::vector<Edge> edges;
    std::vector<std::pair<uint32_t, IdxSet>> changes;
};

using Node = uint32_t;  // index into the flat tree; kNoNode is Python's None

struct Var {
    uint32_t idx, code;  // token index and text id of a variable occurrence
};
using Vars = SmallVector<Var, 4>;
using Nodes = SmallVector<Node, 4>;  // sides of an assignment

// One per thread (thread_scratch), reset for each source: its buffers keep their
// capacity, so a source costs no allocation beyond the result.
class Walker {
  public:
    FlowGraph run(const Language& lang, const std::string& src, const FlatTree& tree, bool with_texts);

  private:
    const Language* lang_ = nullptr;
    const std::string* src_ = nullptr;
    const FlatNode* nodes_ = nullptr;
    uint32_t node_count_ = 0;
    // Tokens in tree order. For token t: its index as codebleu sees it (the last
    // token with the same span), its text id, and whether it names a variable.
    std::vector<uint32_t> tok_node_, tok_idx_, tok_code_;
    std::vector<uint8_t> tok_var_;
    std::vector<uint32_t> tokens_before_;  // per node: tokens earlier in tree order
    std::vector<uint8_t> inside_token_;    // per node: strictly inside a token (a string's parts)
    std::vector<std::string> texts_;
    uint32_t text_count_ = 0;
    States st_;
    std::vector<Edge> out_;
    std::unordered_map<uint64_t, LoopResult> memo_;
    uint32_t loop_depth_ = 0;  // loops being walked around the current node
    bool with_texts_ = false;
    // collect_tokens' and run's working buffers
    std::vector<std::string> owned_;
    std::vector<std::string_view> raw_, unique_;
    std::vector<uint32_t> slots_, used_;
    std::vector<Edge> kept_;

    uint32_t role(Node n) const { return lang_->roles[nodes_[n].symbol]; }
    uint32_t nchildren(Node n) const { return nodes_[n].child_count; }
    bool is_token(Node n) const {
        uint32_t r = role(n);
        return (nodes_[n].child_count == 0 || (r & kRoleString)) && !(r & kRoleComment);
    }
    Node child(Node n, uint32_t i) const {
        Node c = nodes_[n].first_child;
        while (i-- > 0 && c != kNoNode) c = nodes_[c].next_sibling;
        return c;
    }
    Node last_child(Node n) const { return nodes_[n].last_child; }
    Node field(Node n, TSFieldId f) const {
        if (f == 0) return kNoNode;
        for (Node c = nodes_[n].first_child; c != kNoNode; c = nodes_[c].next_sibling)
            if (nodes_[c].field == f) return c;
        return kNoNode;
    }
    void collect_tokens();
    // tree_to_variable_index: variable tokens under `n`, in order, as (idx, code).
    Vars variables(Node n) const {
        // Inside a string literal codebleu's token lookup raises: the graph is empty.
        if (n == kNoNode || inside_token_[n]) throw Aborted{};
        Vars out;
        uint32_t end = tokens_before_[nodes_[n].subtree_end];
        for (uint32_t t = tokens_before_[n]; t < end; ++t)
            if (tok_var_[t]) out.push_back({tok_idx_[t], tok_code_[t]});
        return out;
    }

    void walk(Node n, uint32_t depth);
    void walk_leaf(Node n);
    void walk_def(Node n, uint32_t depth);
    void walk_assign(Node n, uint32_t depth);
    void walk_increment(Node n);
    void walk_if(Node n, uint32_t depth);
    void walk_loop(Node n, uint32_t depth);
    void walk_default(Node n, uint32_t depth);
    void tuple_pairs(Node left, Node right, Nodes& ls, Nodes& rs) const;
    void emit_computed(const Nodes& ls, const Nodes& rs);
    void merge_loop_edges(size_t seg);
    // Sorted and deduplicated by text, as codebleu's sorted(set(names)).
    void sort_names(Names& names) const {
        std::sort(names.begin(), names.end(), [this](uint32_t a, uint32_t b) { return unique_[a] < unique_[b]; });
        names.resize(static_cast<uint32_t>(std::unique(names.begin(), names.end()) - names.begin()));
    }
    void sort_segment(size_t seg) {
        auto by_idx = [](const Edge& a, const Edge& b) { return a.idx < b.idx; };
        if (!std::is_sorted(out_.begin() + static_cast<std::ptrdiff_t>(seg), out_.end(), by_idx))
            std::stable_sort(out_.begin() + static_cast<std::ptrdiff_t>(seg), out_.end(), by_idx);
    }
    // Every name gets an edge from every value, then is defined at its own token.
    void link_each(const Vars& names, const Vars& values, bool computed) {
        for (auto [idx1, code1] : names) {
            for (auto [idx2, code2] : values) push(code1, idx1, computed, {code2}, {idx2});
            st_.set(code1, {idx1});
        }
    }
    void push(uint32_t code, uint32_t idx, bool computed, Names names, IdxSet parents) {
        Edge& e = out_.emplace_back();  // in place: no temporary Edge to move
        e.code = code;
        e.idx = idx;
        e.computed = computed;
        e.names = std::move(names);
        e.parents = std::move(parents);
    }
};

void Walker::collect_tokens() {
    const uint32_t n = node_count_;
    tok_node_.clear();
    tokens_before_.assign(n + 1, 0);
    inside_token_.assign(n + 1, 0);
    uint32_t count = 0;
    for (uint32_t i = 0; i < n;) {
        if (is_token(i)) {
            tok_node_.push_back(i);
            for (uint32_t j = i; j < nodes_[i].subtree_end; ++j) tokens_before_[j] = count;
            for (uint32_t j = i + 1; j < nodes_[i].subtree_end; ++j) inside_token_[j] = 1;
            ++count;
            i = nodes_[i].subtree_end;
        } else {
            tokens_before_[i] = count;
            ++i;
        }
    }
    tokens_before_[n] = count;
    // Token text: the span's bytes without '\n' (codebleu joins split lines).
    auto& owned = owned_;  // texts that had a newline removed
    owned.clear();
    auto& raw = raw_;
    raw.assign(count, std::string_view());
    for (uint32_t t = 0; t < count; ++t) {
        const FlatNode& f = nodes_[tok_node_[t]];
        uint32_t s = std::min<uint32_t>(f.start, static_cast<uint32_t>(src_->size()));
        uint32_t e = std::min<uint32_t>(std::max(f.end, f.start), static_cast<uint32_t>(src_->size()));
        std::string_view v(src_->data() + s, e - s);
        if (v.find('\n') != std::string_view::npos) {
            std::string text;
            for (char c : v)
                if (c != '\n') text.push_back(c);
            owned.push_back(std::move(text));
            raw[t] = std::string_view();  // filled below, once `owned` stops moving
            continue;
        }
        raw[t] = v;
    }
    for (uint32_t t = 0, k = 0; t < count; ++t) {
        const FlatNode& f = nodes_[tok_node_[t]];
        if (raw[t].data() == nullptr && f.end > f.start) raw[t] = owned[k++];
    }
    // Text ids in order of first appearance, interned with an open-addressing table
    // (slot = id + 1) reused per thread: a node-based map cost one allocation per
    // distinct text. Name lists that codebleu sorts are sorted by text (sort_names).
    auto& slots = slots_;
    size_t cap = 16;
    while (cap < size_t(count) * 2) cap <<= 1;
    slots.assign(cap, 0);
    auto& unique = unique_;
    unique.clear();
    tok_code_.resize(count);
    for (uint32_t t = 0; t < count; ++t) {
        size_t h = std::hash<std::string_view>{}(raw[t]) & (cap - 1);
        while (slots[h] != 0 && unique[slots[h] - 1] != raw[t]) h = (h + 1) & (cap - 1);
        if (slots[h] == 0) {
            unique.push_back(raw[t]);
            slots[h] = static_cast<uint32_t>(unique.size());
        }
        tok_code_[t] = slots[h] - 1;
    }
    text_count_ = static_cast<uint32_t>(unique.size());
    texts_.clear();
    if (with_texts_) texts_.assign(unique.begin(), unique.end());
    tok_idx_.resize(count);
    tok_var_.resize(count);
    // index_to_code is keyed by span: a later token with the same span wins.
    for (uint32_t t = count; t-- > 0;) {
        const FlatNode& f = nodes_[tok_node_[t]];
        bool same_as_next = t + 1 < count && nodes_[tok_node_[t + 1]].start == f.start &&
                            nodes_[tok_node_[t + 1]].end == f.end;
        tok_idx_[t] = same_as_next ? tok_idx_[t + 1] : t;
    }
    for (uint32_t t = 0; t < count; ++t) {
        const std::string& type = lang_->symbol_names[nodes_[tok_node_[t]].symbol];
        tok_var_[t] = std::string_view(type) != raw[tok_idx_[t]];
    }
    st_.resize(text_count_);
}

void Walker::walk(Node n, uint32_t depth) {
    if (n == kNoNode || inside_token_[n]) throw Aborted{};
    uint32_t r = role(n);
    if (is_token(n)) return walk_leaf(n);
    if (r & kRoleDef) return walk_def(n, depth);
    if (r & kRoleAssign) return walk_assign(n, depth);
    if (r & kRoleIncrement) return walk_increment(n);
    if (r & kRoleIf) return walk_if(n, depth);
    if (r & (kRoleFor | kRoleEnhancedFor | kRoleWhile)) return walk_loop(n, depth);
    walk_default(n, depth);
}

void Walker::walk_leaf(Node n) {
    uint32_t t = tokens_before_[n];
    uint32_t idx = tok_idx_[t], code = tok_code_[idx];
    if (!tok_var_[t]) return;  // keyword or operator: its text is its type
    if (const IdxSet* defs = st_.get(code)) {
        push(code, idx, false, {code}, *defs);
        return;
    }
    if (role(n) & kRoleIdentifier) st_.set(code, {idx});
    push(code, idx, false, {}, {});
}

void Walker::walk_def(Node n, uint32_t depth) {
    size_t seg = out_.size();
    Node name, value;
    if (lang_->def_positional) {
        name = child(n, 0);
        value = nchildren(n) == 2 ? child(n, 1) : kNoNode;
    } else {
        name = field(n, lang_->def_name);
        value = field(n, lang_->def_value);
    }
    auto names = variables(name);
    if (value == kNoNode) {
        for (auto [idx, code] : names) {
            push(code, idx, false, {}, {});
            st_.set(code, {idx});
        }
    } else {
        auto values = variables(value);
        walk(value, depth + 1);
        link_each(names, values, false);
    }
    sort_segment(seg);
}

void Walker::tuple_pairs(Node left, Node right, Nodes& ls, Nodes& rs) const {
    if (left == kNoNode || right == kNoNode) throw Aborted{};
    auto split = [&](Node p, Nodes& v) {
        for (Node c = nodes_[p].first_child; c != kNoNode; c = nodes_[c].next_sibling)
            if (!(role(c) & kRoleComma)) v.push_back(c);
    };
    split(left, ls);
    split(right, rs);
    if (ls.size() != rs.size()) {
        ls.clear();
        rs.clear();
    }
    if (ls.empty()) ls.push_back(left);
    if (rs.empty()) rs.push_back(right);
}

// Python-style: each left variable computedFrom all variables of its right side.
void Walker::emit_computed(const Nodes& ls, const Nodes& rs) {
    size_t k = std::min(ls.size(), rs.size());
    for (size_t i = 0; i < k; ++i) {
        auto lv = variables(ls[i]);
        auto rv = variables(rs[i]);
        Names names;
        IdxSet parents;
        for (auto [idx, code] : rv) {
            names.push_back(code);
            parents.push_back(idx);
        }
        parents.sort_unique();
        for (auto [idx, code] : lv) {
            push(code, idx, true, names, parents);
            st_.set(code, {idx});
        }
    }
}

void Walker::walk_assign(Node n, uint32_t depth) {
    size_t seg = out_.size();
    if (lang_->tuple_assignment) {
        Nodes ls, rs;
        if (role(n) & kRoleLastChildAssign) {
            rs.push_back(last_child(n));
            ls.push_back(field(n, lang_->assign_left));
        } else {
            Node right = field(n, lang_->assign_right);
            if (right == kNoNode) return;  // `x: int`, nothing assigned
            tuple_pairs(field(n, lang_->assign_left), right, ls, rs);
        }
        for (Node r : rs) walk(r, depth + 1);
        emit_computed(ls, rs);
    } else {
        Node left = field(n, lang_->assign_left);
        Node right = field(n, lang_->assign_right);
        walk(right, depth + 1);
        auto names = variables(left);
        auto values = variables(right);
        link_each(names, values, true);
    }
    sort_segment(seg);
}

void Walker::walk_increment(Node n) {
    size_t seg = out_.size();
    auto vars = variables(n);
    link_each(vars, vars, true);
    sort_segment(seg);  // already in token order, unless zero-width tokens share a span
}

void Walker::walk_if(Node n, uint32_t depth) {
    size_t seg = out_.size();
    size_t entry = st_.mark();
    bool has_else = role(n) & kRoleHasElse;
    bool sticky = false, in_order = true;
    std::vector<std::vector<std::pair<uint32_t, IdxSet>>> branches;
    for (Node ch = nodes_[n].first_child; ch != kNoNode; ch = nodes_[ch].next_sibling) {
        uint32_t r = role(ch);
        if (r & kRoleHasElse) has_else = true;
        bool branch = sticky || (r & kRoleIfBranch);
        if (branch && lang_->if_branch_sticky) sticky = true;
        size_t piece = out_.size();
        if (!branch) {
            walk(ch, depth + 1);  // continues the current path
            in_order &= piece == seg || piece == out_.size() || out_[piece - 1].idx <= out_[piece].idx;
            continue;
        }
        // An alternative starts from the entry state: set the current path aside.
        auto current = st_.changes_since(entry);
        st_.rollback(entry);
        walk(ch, depth + 1);
        in_order &= piece == seg || piece == out_.size() || out_[piece - 1].idx <= out_[piece].idx;
        branches.push_back(st_.changes_since(entry));
        st_.rollback(entry);
        for (auto& [code, v] : current) st_.set(code, std::move(v));
    }
    branches.push_back(st_.changes_since(entry));
    st_.rollback(entry);
    bool keep_entry = lang_->if_always_keep_original || !has_else;
    // Keys nobody changed keep their entry value; changed keys get the union.
    std::vector<uint32_t> keys;
    for (const auto& b : branches)
        for (const auto& kv : b) keys.push_back(kv.first);
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    std::vector<std::pair<uint32_t, IdxSet>> merged;
    for (uint32_t key : keys) {
        const IdxSet* orig = st_.get(key);
        IdxSet acc;
        bool present = false;
        for (const auto& b : branches) {
            auto it = std::lower_bound(b.begin(), b.end(), key,
                                       [](const std::pair<uint32_t, IdxSet>& p, uint32_t x) { return p.first < x; });
            if (it != b.end() && it->first == key) {
                acc = set_union(acc, it->second);
                present = true;
            } else if (orig) {
                acc = set_union(acc, *orig);
                present = true;
            }
        }
        if (keep_entry && orig) acc = set_union(acc, *orig);
        if (present) merged.emplace_back(key, std::move(acc));
    }
    for (auto& [key, v] : merged) st_.set(key, std::move(v));
    if (!in_order) sort_segment(seg);
}

void Walker::merge_loop_edges(size_t seg) {
    // codebleu: dict keyed by (name, index, relation) in first-seen order; repeats
    // merge their parent lists as sets (we sort them); then a stable sort by index.
    // Same result without hashing: group by (index, relation), order the groups by
    // (index, first position).
    size_t n = out_.size() - seg;
    auto* e = out_.data() + seg;
    // Fast path, the usual case: the second pass repeats the first pass's keys in
    // the same order, and the first pass has each key once, sorted by index.
    if (n % 2 == 0 && n > 0) {
        size_t half = n / 2;
        bool same = true;
        for (size_t i = 0; i < half && same; ++i) {
            const Edge& a = e[i];
            const Edge& b = e[half + i];
            same = a.idx == b.idx && a.computed == b.computed &&
                   (i == 0 || e[i - 1].idx < a.idx || (e[i - 1].idx == a.idx && e[i - 1].computed < a.computed));
        }
        if (same) {
            for (size_t i = 0; i < half; ++i) {
                Edge& m = e[i];
                Edge& x = e[half + i];
                if (m.names.size() > 1 || !(m.names == x.names)) {  // else {a} + {a} == {a}
                    m.names.append(x.names.begin(), x.names.end());
                    sort_names(m.names);
                }
                m.parents = set_union(m.parents, x.parents);
            }
            out_.resize(seg + half);
            return;
        }
    }
    std::vector<uint32_t> order(n);
    for (uint32_t i = 0; i < n; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
        if (e[a].idx != e[b].idx) return e[a].idx < e[b].idx;
        if (e[a].computed != e[b].computed) return e[a].computed < e[b].computed;
        return a < b;
    });
    std::vector<std::pair<uint32_t, Edge>> groups;  // (first position, merged edge)
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        Edge m = std::move(e[order[i]]);
        bool repeated = false;
        while (j < n && e[order[j]].idx == m.idx && e[order[j]].computed == m.computed) {
            Edge& x = e[order[j]];
            m.names.append(x.names.begin(), x.names.end());
            m.parents = set_union(m.parents, x.parents);
            repeated = true;
            ++j;
        }
        if (repeated) sort_names(m.names);
        groups.emplace_back(order[i], std::move(m));
        i = j;
    }
    std::sort(groups.begin(), groups.end(), [](const auto& a, const auto& b) {
        return a.second.idx != b.second.idx ? a.second.idx < b.second.idx : a.first < b.first;
    });
    out_.resize(seg);
    for (auto& g : groups) out_.push_back(std::move(g.second));
}

void Walker::walk_loop(Node n, uint32_t depth) {
    // Memoized on (node, entry state): the walk is a pure function of both. Only a
    // loop inside another loop can be walked again, so only those are stored.
    uint64_t key = mix64(uint64_t(n) ^ mix64(st_.hash()));
    bool memoize = loop_depth_ > 0;
    if (memoize) {
        if (auto it = memo_.find(key); it != memo_.end()) {
            for (const auto& e : it->second.edges) out_.push_back(e);
            for (const auto& [code, v] : it->second.changes) st_.set(code, v);
            return;
        }
    }
    ++loop_depth_;
    size_t seg = out_.size();
    size_t entry = st_.mark();
    uint32_t r = role(n);
    if ((r & kRoleFor) && lang_->python_for) {
        for (int pass = 0; pass < 2; ++pass) {
            Nodes ls, rs;
            tuple_pairs(field(n, lang_->for_left), field(n, lang_->for_right), ls, rs);
            for (Node x : rs) walk(x, depth + 1);
            emit_computed(ls, rs);
            Node last = last_child(n);
            if (role(last) & kRoleBlock) walk(last, depth + 1);
        }
    } else if (r & kRoleFor) {
        for (Node ch = nodes_[n].first_child; ch != kNoNode; ch = nodes_[ch].next_sibling) walk(ch, depth + 1);
        bool after_init = false;
        for (Node ch = nodes_[n].first_child; ch != kNoNode; ch = nodes_[ch].next_sibling) {
            if (after_init) walk(ch, depth + 1);
            else if (role(ch) & kRoleForInit) after_init = true;
        }
    } else if (r & kRoleEnhancedFor) {
        Node name = kNoNode, value = kNoNode;
        if (lang_->enhanced_positional) {
            for (Node ch = nodes_[n].first_child; ch != kNoNode; ch = nodes_[ch].next_sibling) {
                if (!(role(ch) & kRoleEnhancedVar)) continue;
                if (value == kNoNode) {
                    value = ch;
                } else {
                    name = ch;
                    break;
                }
            }
        } else {
            name = field(n, lang_->each_name);
            value = field(n, lang_->each_value);
        }
        Node body = field(n, lang_->each_body);
        for (int pass = 0; pass < 2; ++pass) {
            walk(value, depth + 1);
            auto names = variables(name);
            auto values = variables(value);
            link_each(names, values, true);
            walk(body, depth + 1);
        }
    } else {
        for (int pass = 0; pass < 2; ++pass)
            for (Node ch = nodes_[n].first_child; ch != kNoNode; ch = nodes_[ch].next_sibling) walk(ch, depth + 1);
    }
    --loop_depth_;
    merge_loop_edges(seg);
    if (!memoize) return;
    LoopResult res;
    res.edges.assign(out_.begin() + static_cast<std::ptrdiff_t>(seg), out_.end());
    res.changes = st_.changes_since(entry);
    memo_.emplace(key, std::move(res));
}

void Walker::walk_default(Node n, uint32_t depth) {
    size_t seg = out_.size();
    bool any_first = false, in_order = true;
    for (Node ch = nodes_[n].first_child; ch != kNoNode; ch = nodes_[ch].next_sibling) {
        if (role(ch) & kRoleDoFirst) {
            walk(ch, depth + 1);
            any_first = true;
        }
    }
    for (Node ch = nodes_[n].first_child; ch != kNoNode; ch = nodes_[ch].next_sibling) {
        if (any_first && (role(ch) & kRoleDoFirst)) continue;
        size_t piece = out_.size();
        walk(ch, depth + 1);
        in_order &= piece == seg || piece == out_.size() || out_[piece - 1].idx <= out_[piece].idx;
    }
    // Each child's edges come sorted and children cover increasing token ranges,
    // so only a do-first child or an odd zero-width token needs the sort.
    if (any_first || !in_order) sort_segment(seg);
}

FlowGraph Walker::run(const Language& lang, const std::string& src, const FlatTree& tree, bool with_texts) {
    lang_ = &lang;
    src_ = &src;
    nodes_ = tree.nodes.data();
    node_count_ = static_cast<uint32_t>(tree.nodes.size());
    with_texts_ = with_texts;
    out_.clear();
    memo_.clear();
    loop_depth_ = 0;
    FlowGraph g;
    collect_tokens();
    g.texts = std::move(texts_);
    g.text_count = text_count_;
    out_.reserve(tok_node_.size() + 16);
    try {
        walk(0, 0);
    } catch (const Aborted&) {
        return g;
    }
    // get_data_flow: sort by index, keep tokens that take part in an edge, merge
    // repeats of one index (parent lists as sorted sets, the later relation wins).
    sort_segment(0);
    auto& used = used_;
    used.clear();
    for (const Edge& e : out_) {
        if (!e.parents.empty()) used.push_back(e.idx);
        used.insert(used.end(), e.parents.begin(), e.parents.end());
    }
    std::sort(used.begin(), used.end());
    used.erase(std::unique(used.begin(), used.end()), used.end());
    auto& kept = kept_;
    kept.clear();
    for (Edge& e : out_) {
        if (!std::binary_search(used.begin(), used.end(), e.idx)) continue;
        if (!kept.empty() && kept.back().idx == e.idx) {
            Edge& m = kept.back();
            m.computed = e.computed;
            m.names.append(e.names.begin(), e.names.end());
            sort_names(m.names);
            m.parents = set_union(m.parents, e.parents);
            continue;
        }
        kept.push_back(std::move(e));
    }
    g.items.reserve(kept.size());
    for (Edge& e : kept) g.items.push_back({e.code, e.idx, e.computed, std::move(e.names)});
    if (out_.capacity() > kScratchKeep) std::vector<Edge>().swap(out_);
    return g;
}

}  // namespace

FlowGraph build_flow(const Language& lang, const std::string& src, const FlatTree& tree, bool with_texts) {
    if (tree.max_depth > kMaxDepth) return FlowGraph{};
    return thread_scratch<Walker>().run(lang, src, tree, with_texts);
}

std::vector<uint64_t> normalize_flow(const FlowGraph& g) {
    // Variables renamed var_0, var_1, ... in order of first appearance (parents first).
    std::vector<int32_t> var(g.text_count, -1);
    int32_t next = 0;
    std::vector<uint64_t> out;
    out.reserve(g.items.size());
    for (const auto& it : g.items) {
        for (uint32_t n : it.names)
            if (var[n] < 0) var[n] = next++;
        if (var[it.code] < 0) var[it.code] = next++;
        uint64_t h = mix64(uint64_t(var[it.code]) * 2 + it.computed_from);
        for (uint32_t n : it.names) h = mix64(h ^ (uint64_t(var[n]) + 0x632be59bd9b4e019ULL));
        out.push_back(mix64(h ^ it.names.size()));
    }
    return out;
}

}  // namespace ppocoder
