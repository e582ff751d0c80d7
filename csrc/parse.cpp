#include "parse.hpp"

namespace ppocoder {

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
