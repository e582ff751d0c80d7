#include "parse.hpp"

namespace ppocoder {

int64_t count_nodes(const TSLanguage* lang, const std::string& source) {
    TSParser* parser = ts_parser_new();
    if (!ts_parser_set_language(parser, lang)) {
        ts_parser_delete(parser);
        return -1;
    }
    TSTree* tree = ts_parser_parse_string(parser, nullptr, source.data(), static_cast<uint32_t>(source.size()));
    int64_t count = 0;
    TSTreeCursor cursor = ts_tree_cursor_new(ts_tree_root_node(tree));
    // Iterative pre-order walk: no recursion, so nesting depth is unbounded.
    for (;;) {
        if (ts_node_is_named(ts_tree_cursor_current_node(&cursor))) ++count;
        if (ts_tree_cursor_goto_first_child(&cursor)) continue;
        bool moved = false;
        while (!moved) {
            if (ts_tree_cursor_goto_next_sibling(&cursor)) { moved = true; break; }
            if (!ts_tree_cursor_goto_parent(&cursor)) break;
        }
        if (!moved) break;
    }
    ts_tree_cursor_delete(&cursor);
    ts_tree_delete(tree);
    ts_parser_delete(parser);
    return count;
}

int64_t parse_only(const TSLanguage* lang, const std::vector<std::string>& sources) {
    TSParser* parser = ts_parser_new();
    if (!ts_parser_set_language(parser, lang)) {
        ts_parser_delete(parser);
        return -1;
    }
    int64_t errors = 0;
    for (const auto& src : sources) {
        TSTree* tree = ts_parser_parse_string(parser, nullptr, src.data(), static_cast<uint32_t>(src.size()));
        errors += ts_node_has_error(ts_tree_root_node(tree));
        ts_tree_delete(tree);
    }
    ts_parser_delete(parser);
    return errors;
}

}  // namespace ppocoder
