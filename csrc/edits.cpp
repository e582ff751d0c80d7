// Incremental parsing: the edits between two sources, and the parse that starts
// from an earlier tree (measurements in docs/engine.md).
#include "edits.hpp"

#include <algorithm>
#include <cstring>

#include "engine.hpp"

namespace ppocoder {

TSPoint point_at(const std::string& s, uint32_t byte) {
    TSPoint p{0, 0};
    const char* base = s.data();
    const char* line = base;
    const char* end = base + byte;
    for (const char* q = base; (q = static_cast<const char*>(std::memchr(q, '\n', end - q))) != nullptr; ++q) {
        ++p.row;
        line = q + 1;
    }
    p.column = static_cast<uint32_t>(end - line);
    return p;
}

namespace {

constexpr int kMaxDiff = 48;  // line insertions + deletions beyond which one edit is used

struct Lines {
    std::vector<uint32_t> start;  // byte offset of each line in [lo, hi), plus hi at the end
    std::vector<uint64_t> hash;
};

Lines split_lines(const std::string& s, size_t lo, size_t hi) {
    Lines out;
    size_t at = lo;
    while (at < hi) {
        const void* nl = std::memchr(s.data() + at, '\n', hi - at);
        size_t end = nl ? static_cast<const char*>(nl) - s.data() + 1 : hi;
        out.start.push_back(static_cast<uint32_t>(at));
        out.hash.push_back(hash_bytes(s.data() + at, end - at));
        at = end;
    }
    out.start.push_back(static_cast<uint32_t>(hi));
    return out;
}

struct Hunk {
    uint32_t a0, a1, b0, b1;  // line ranges [a0, a1) of old, [b0, b1) of new
};

// Myers' O((N+M)D) diff on line hashes; false when D exceeds kMaxDiff.
bool diff_lines(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b, std::vector<Hunk>& hunks) {
    const int n = static_cast<int>(a.size()), m = static_cast<int>(b.size());
    const int off = kMaxDiff + 1;
    std::vector<int> v(2 * off + 1, 0);
    std::vector<std::vector<int>> trace;
    int found = -1;
    for (int d = 0; d <= kMaxDiff && found < 0; ++d) {
        trace.push_back(v);
        for (int k = -d; k <= d; k += 2) {
            int x = (k == -d || (k != d && v[off + k - 1] < v[off + k + 1])) ? v[off + k + 1] : v[off + k - 1] + 1;
            int y = x - k;
            while (x < n && y < m && a[x] == b[y]) ++x, ++y;
            v[off + k] = x;
            if (x >= n && y >= m) {
                found = d;
                break;
            }
        }
    }
    if (found < 0) return false;
    // Backtrack: collect the diagonal (equal) runs, then the gaps between them are hunks.
    std::vector<std::pair<int, int>> snakes;  // (x, y) after each step, from the end
    int x = n, y = m;
    for (int d = found; d > 0; --d) {
        const std::vector<int>& pv = trace[d];
        int k = x - y;
        int pk = (k == -d || (k != d && pv[off + k - 1] < pv[off + k + 1])) ? k + 1 : k - 1;
        int px = pv[off + pk], py = px - pk;
        int sx = pk == k + 1 ? px : px + 1, sy = sx - k;  // after the single edit step
        // equal run from (sx, sy) to (x, y); the step (px, py) -> (sx, sy) is one edit
        snakes.emplace_back(sx, sy);
        x = px;
        y = py;
    }
    // Walk forward: every step is an insertion or deletion; merge adjacent ones.
    std::reverse(snakes.begin(), snakes.end());
    int cx = 0, cy = 0;
    // skip the first equal run from (0,0)
    {
        // recompute: initial diagonal from (0,0)
        while (cx < n && cy < m && a[cx] == b[cy]) ++cx, ++cy;
    }
    for (auto [sx, sy] : snakes) {
        // the step goes from (cx, cy) to (sx, sy): one line deleted or inserted
        if (!hunks.empty() && hunks.back().a1 == static_cast<uint32_t>(cx) &&
            hunks.back().b1 == static_cast<uint32_t>(cy)) {
            hunks.back().a1 = sx;
            hunks.back().b1 = sy;
        } else {
            hunks.push_back({static_cast<uint32_t>(cx), static_cast<uint32_t>(sx), static_cast<uint32_t>(cy),
                             static_cast<uint32_t>(sy)});
        }
        cx = sx;
        cy = sy;
        while (cx < n && cy < m && a[cx] == b[cy]) ++cx, ++cy;
    }
    return true;
}

TSInputEdit make_edit(const std::string& old_src, const std::string& new_src, size_t a0, size_t a1, size_t b0,
                      size_t b1) {
    // narrow to the changed bytes
    while (a0 < a1 && b0 < b1 && old_src[a0] == new_src[b0]) ++a0, ++b0;
    while (a1 > a0 && b1 > b0 && old_src[a1 - 1] == new_src[b1 - 1]) --a1, --b1;
    TSInputEdit e;
    e.start_byte = static_cast<uint32_t>(a0);
    e.old_end_byte = static_cast<uint32_t>(a1);
    e.new_end_byte = static_cast<uint32_t>(a0 + (b1 - b0));
    e.start_point = point_at(old_src, e.start_byte);
    e.old_end_point = point_at(old_src, e.old_end_byte);
    // the text before the edit is old_src's (edits are applied back to front)
    TSPoint p = e.start_point;
    const char* q = new_src.data() + b0;
    const char* end = new_src.data() + b1;
    const char* line = nullptr;
    for (const char* nl; (nl = static_cast<const char*>(std::memchr(q, '\n', end - q))) != nullptr; q = nl + 1) {
        ++p.row;
        line = nl + 1;
    }
    p.column = line ? static_cast<uint32_t>(end - line) : p.column + static_cast<uint32_t>(b1 - b0);
    e.new_end_point = p;
    return e;
}

}  // namespace

std::vector<TSInputEdit> source_edits(const std::string& old_src, const std::string& new_src, size_t max_edits) {
    size_t limit = std::min(old_src.size(), new_src.size());
    size_t pre = 0;
    while (pre < limit && old_src[pre] == new_src[pre]) ++pre;
    size_t suf = 0;
    while (suf < limit - pre && old_src[old_src.size() - 1 - suf] == new_src[new_src.size() - 1 - suf]) ++suf;
    size_t a_hi = old_src.size() - suf, b_hi = new_src.size() - suf;
    std::vector<TSInputEdit> edits;
    if (max_edits > 1 && pre < a_hi && pre < b_hi) {
        // Lines of the middle region, starting at the line that holds the first change.
        size_t lo = pre;
        while (lo > 0 && old_src[lo - 1] != '\n') --lo;
        Lines a = split_lines(old_src, lo, a_hi), b = split_lines(new_src, lo, b_hi);
        std::vector<Hunk> hunks;
        if (diff_lines(a.hash, b.hash, hunks) && hunks.size() <= max_edits) {
            for (size_t i = hunks.size(); i-- > 0;) {
                const Hunk& h = hunks[i];
                edits.push_back(make_edit(old_src, new_src, a.start[h.a0], a.start[h.a1], b.start[h.b0], b.start[h.b1]));
            }
            return edits;
        }
    }
    edits.push_back(make_edit(old_src, new_src, pre, a_hi, pre, b_hi));
    return edits;
}

// Parses `src`, reusing `base` (the tree of `base->src`) when given, edited to `src`.
TSTree* parse_source(TSParser* parser, const std::string& src, const ParsedBase* base) {
    constexpr size_t kMaxEdits = 16;  // more gave nothing on the parity corpus
    auto len = static_cast<uint32_t>(src.size());
    // Error recovery is not history-free: a tree with an error (before or after the
    // edit) can differ from a fresh parse, so those are parsed fresh.
    if (base == nullptr || base->tree == nullptr || ts_node_has_error(ts_tree_root_node(base->tree)))
        return ts_parser_parse_string(parser, nullptr, src.data(), len);
    TSTree* old_tree = ts_tree_copy(base->tree);
    for (const TSInputEdit& edit : source_edits(base->src, src, kMaxEdits)) ts_tree_edit(old_tree, &edit);
    TSTree* tree = ts_parser_parse_string(parser, old_tree, src.data(), len);
    ts_tree_delete(old_tree);
    if (ts_node_has_error(ts_tree_root_node(tree))) {
        ts_tree_delete(tree);
        tree = ts_parser_parse_string(parser, nullptr, src.data(), len);
    }
    return tree;
}
ParsedBase::~ParsedBase() {
    if (tree) ts_tree_delete(tree);
}

bool same_flat(const FlatTree& a, const FlatTree& b) {
    if (a.nodes.size() != b.nodes.size() || a.max_depth != b.max_depth || a.error_leaves != b.error_leaves)
        return false;
    for (size_t i = 0; i < a.nodes.size(); ++i) {
        const FlatNode &x = a.nodes[i], &y = b.nodes[i];
        if (x.start != y.start || x.end != y.end || x.first_child != y.first_child ||
            x.last_child != y.last_child || x.next_sibling != y.next_sibling || x.subtree_end != y.subtree_end ||
            x.child_count != y.child_count || x.symbol != y.symbol || x.field != y.field || x.flags != y.flags)
            return false;
    }
    return true;
}

}  // namespace ppocoder
