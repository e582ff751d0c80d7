// flatten_tree: copies a parsed tree into the flat pre-order array (FlatTree).
//
// With the tree-sitter runtime compiled into the extension (the default build),
// the walk reads the runtime's own subtrees through its private headers: one
// pass over the children arrays, no cursor. A cursor step costs hundreds of
// instructions (goto_next_sibling climbs back through hidden ancestors, and
// current_field_id re-walks the cursor stack for every node); here each child
// costs a few loads. The result is the cursor walk's node for node
// (flatten_into in engine.cpp, which system-library builds use, and which
// tests/test_structural_walk.py compares it against):
// - visible nodes are the subtrees that are visible or aliased in their
//   parent's production; hidden nodes are transparent (their visible
//   descendants become children of the nearest visible ancestor);
// - a node's field is the first non-inherited field-map entry for its
//   structural index in its parent's production, else the field of its
//   nearest hidden ancestor that has one (extras have none, and an extra
//   hidden ancestor ends the search), as ts_tree_cursor_current_field_id;
// - symbol, named, missing and has_error as ts_node_symbol, ts_node_is_named,
//   ts_node_is_missing and ts_node_has_error; positions as ts_node_start_byte.
#include "engine.hpp"

#include <algorithm>

#ifdef PPOCODER_TS_INTERNALS
#include "language.h"
#include "subtree.h"
#include "tree.h"
#endif

namespace ppocoder {

#ifdef PPOCODER_TS_INTERNALS

bool direct_walk_available() { return true; }

void init_walk_tables(Language& lang) {
    const TSLanguage* ts = lang.ts;
    uint32_t all = ts_language_symbol_count(ts);  // grammar symbols and alias symbols
    lang.walk_public.assign(all, 0);
    lang.walk_named.assign(all, 0);
    for (uint32_t s = 0; s < all; ++s) {
        auto sym = static_cast<TSSymbol>(s);
        lang.walk_public[s] = ts_language_public_symbol(ts, sym);
        lang.walk_named[s] = ts_language_symbol_metadata(ts, sym).named ? 1 : 0;
    }
    // Field of each structural child of each production (first non-inherited entry).
    uint32_t stride = ts->max_alias_sequence_length;
    lang.walk_stride = stride;
    lang.walk_fields.assign(size_t(ts->production_id_count) * stride, 0);
    if (ts->field_count == 0) return;
    for (uint32_t p = 0; p < ts->production_id_count; ++p) {
        const TSFieldMapEntry *map, *end;
        ts_language_field_map(ts, p, &map, &end);
        for (; map < end; ++map) {
            if (map->inherited || map->child_index >= stride) continue;
            uint16_t& slot = lang.walk_fields[size_t(p) * stride + map->child_index];
            if (slot == 0) slot = map->field_id;
        }
    }
}

namespace {
inline uint32_t padding_bytes(Subtree s) { return s.data.is_inline ? s.data.padding_bytes : s.ptr->padding.bytes; }
inline uint32_t size_bytes(Subtree s) { return s.data.is_inline ? s.data.size_bytes : s.ptr->size.bytes; }

struct Frame {
    const Subtree* child;  // next child to visit
    const Subtree* end;
    const TSSymbol* aliases;  // of this node's production (null: none)
    const uint16_t* fields;   // of this node's production (null: none)
    uint32_t pos;             // start byte of the next child
    uint32_t structural;      // structural index of the next child
    uint32_t node;            // flat index of this node when visible, else kNoNode
    uint32_t owner;           // flat index of the nearest visible node (this one or above)
    uint32_t depth;           // visible nodes from the root to `owner`, inclusive
    uint16_t inherit;         // field handed to visible descendants without one of their own
    TSSymbol alias;           // this node's alias (for the printed form of error nodes)
    Subtree subtree;          // this node
};
}  // namespace

void flatten_tree(const TSTree* tree, const Language& lang, FlatTree& t) {
    const TSLanguage* ts = tree->language;
    auto& frames = thread_scratch<std::vector<Frame>>();
    auto& err = thread_scratch<std::vector<uint8_t>, 0>();  // see begin_flat
    frames.clear();
    Subtree root = tree->root;
    uint32_t root_start = padding_bytes(root);
    begin_flat(t, err, size_bytes(root) + root_start);
    std::vector<FlatNode>& nodes = t.nodes;
    const uint32_t count = lang.symbol_count;

    // Appends a visible node under `parent` (kNoNode for the root); returns its index.
    auto emit = [&](Subtree st, TSSymbol alias, uint32_t start, uint16_t field, uint32_t parent, uint32_t depth) {
        auto i = static_cast<uint32_t>(nodes.size());
        TSSymbol sym = alias ? alias : ts_subtree_symbol(st);
        bool named;
        if (sym == ts_builtin_sym_error) {
            named = true;
        } else {
            named = alias ? lang.walk_named[alias] : ts_subtree_named(st);
            if (sym < lang.walk_public.size()) sym = lang.walk_public[sym];  // else kept (never seen)
        }
        // Filled in place: a FlatNode built on the stack and copied in was stored
        // field by field and reloaded as vectors (a store-forwarding stall per node).
        FlatNode& f = nodes.emplace_back();
        f.start = start;
        f.end = start + size_bytes(st);
        f.first_child = f.last_child = f.next_sibling = kNoNode;
        f.subtree_end = 0;
        f.child_count = 0;
        f.symbol = static_cast<uint16_t>(sym < count ? sym : sym == ts_builtin_sym_error ? count : count + 1);
        f.field = field;
        bool missing = ts_subtree_missing(st);
        f.flags = static_cast<uint8_t>((named ? kNamed : 0) | (missing ? kMissing : 0));
        err.push_back(ts_subtree_error_cost(st) > 0 ? 1 : 0);
        if (parent != kNoNode) link_child(nodes, parent, i);
        if (depth > t.max_depth) t.max_depth = depth;
        return i;
    };
    // The node's subtree is complete.
    struct Printable {
        Subtree st;
        TSSymbol alias;
        const TSLanguage* ts;
    };
    auto printed = [](const void* arg) {
        const auto* p = static_cast<const Printable*>(arg);
        return ts_subtree_string(p->st, p->alias, ts_language_symbol_metadata(p->ts, p->alias).visible, p->ts, false);
    };
    auto leave = [&](uint32_t i, Subtree st, TSSymbol alias, uint32_t parent) {
        Printable what{st, alias, ts};
        finish_flat_node(t, err, count, i, parent, printed, &what);
    };
    auto open = [&](Subtree st, TSSymbol alias, uint32_t pos, uint32_t node, uint32_t owner, uint32_t depth,
                    uint16_t inherit) {
        const Subtree* children = ts_subtree_children(st);
        uint32_t production = st.ptr->production_id;
        Frame& f = frames.emplace_back();  // in place, as FlatNode above
        f.child = children;
        f.end = children + st.ptr->child_count;
        f.aliases = ts_language_alias_sequence(ts, production);
        f.fields = production < ts->production_id_count && lang.walk_stride > 0 && ts->field_count > 0
                       ? &lang.walk_fields[size_t(production) * lang.walk_stride]
                       : nullptr;
        f.pos = pos;
        f.structural = 0;
        f.node = node;
        f.owner = owner;
        f.depth = depth;
        f.inherit = inherit;
        f.alias = alias;
        f.subtree = st;
    };

    uint32_t r = emit(root, 0, root_start, 0, kNoNode, 1);
    if (ts_subtree_child_count(root) > 0) open(root, 0, root_start, r, r, 1, 0);
    else leave(r, root, 0, kNoNode);
    while (!frames.empty()) {
        Frame& f = frames.back();
        if (f.child == f.end) {
            if (f.node != kNoNode) {
                uint32_t parent = frames.size() > 1 ? frames[frames.size() - 2].owner : kNoNode;
                leave(f.node, f.subtree, f.alias, parent);
            }
            frames.pop_back();
            continue;
        }
        Subtree st = *f.child++;
        uint32_t start = f.pos;
        f.pos += size_bytes(st);
        if (f.child != f.end) f.pos += padding_bytes(*f.child);
        bool extra = ts_subtree_extra(st);
        TSSymbol alias = 0;
        uint16_t own = 0;
        if (!extra) {
            // Only ERROR nodes (production 0: no aliases) have more children than a production.
            if (f.structural < lang.walk_stride) {
                if (f.aliases) alias = f.aliases[f.structural];
                if (f.fields) own = f.fields[f.structural];
            }
            ++f.structural;
        }
        uint32_t kids = ts_subtree_child_count(st);
        if (ts_subtree_visible(st) || alias) {
            uint16_t field = extra ? 0 : own ? own : f.inherit;
            uint32_t owner = f.owner, depth = f.depth + 1;
            uint32_t i = emit(st, alias, start, field, owner, depth);
            if (kids > 0) open(st, alias, start, i, i, depth, 0);  // invalidates f
            else leave(i, st, alias, owner);
        } else if (kids > 0 && st.ptr->visible_child_count > 0) {
            uint16_t inherit = extra ? 0 : own ? own : f.inherit;
            open(st, alias, start, kNoNode, f.owner, f.depth, inherit);  // invalidates f
        }
    }
    if (err.capacity() > kScratchKeep) std::vector<uint8_t>().swap(err);
    if (frames.capacity() > kScratchKeep) std::vector<Frame>().swap(frames);
    std::sort(t.error_leaves.begin(), t.error_leaves.end());
}

#else  // a system libtree-sitter: public API only

bool direct_walk_available() { return false; }
void init_walk_tables(Language&) {}
void flatten_tree(const TSTree* tree, const Language& lang, FlatTree& t) {
    flatten_into(ts_tree_root_node(tree), lang, t);
}

#endif

}  // namespace ppocoder
