// The one pybind11 file: converts Python values to plain C++ and releases the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "edits.hpp"
#include "engine.hpp"
#include "parse.hpp"
#include "strip.hpp"

namespace py = pybind11;
using ppocoder::Language;

static const TSLanguage* language_from_capsule(const py::object& capsule) {
    void* ptr = PyCapsule_GetPointer(capsule.ptr(), "tree_sitter.Language");
    if (ptr == nullptr) {
        PyErr_Clear();
        throw py::type_error("expected the capsule returned by a tree-sitter grammar's language()");
    }
    return static_cast<const TSLanguage*>(ptr);
}

static ppocoder::StripStyle strip_style(const std::string& s) {
    if (s == "python") return ppocoder::StripStyle::kPython;
    if (s == "c") return ppocoder::StripStyle::kCLike;
    if (s == "none") return ppocoder::StripStyle::kNone;
    throw py::value_error("comment style must be 'python', 'c' or 'none', got " + s);
}

static std::vector<std::string> byte_list(const py::sequence& seq, const char* what) {
    std::vector<std::string> out;
    out.reserve(py::len(seq));
    for (const auto& item : seq) {
        if (!py::isinstance<py::bytes>(item))
            throw py::type_error(std::string(what) + " must hold bytes (core.structural encodes str)");
        out.emplace_back(item.cast<std::string>());
    }
    return out;
}

static py::bytes to_bytes(const std::string& s) { return py::bytes(s.data(), s.size()); }

PYBIND11_MODULE(_native, m) {
    ppocoder::install_tree_sitter_allocator();
    m.doc() = "PPOCoder native engine (tree-sitter walks, subtree hashing, data-flow graphs)";
    m.attr("source_fingerprint") = ppocoder::source_fingerprint();
    m.def(
        "parse_only",
        [](const py::object& capsule, const py::sequence& sources) {
            const TSLanguage* lang = language_from_capsule(capsule);
            auto srcs = byte_list(sources, "sources");
            py::gil_scoped_release release;
            return ppocoder::parse_only(lang, srcs);
        },
        py::arg("language"), py::arg("sources"),
        "Parse every source once and free the trees (the bare parse cost); returns how many had errors.");

    py::class_<Language, std::shared_ptr<Language>>(m, "Language",
                                                    "A grammar plus the tables of the generic data-flow walker.")
        .def(py::init([](const py::object& capsule, const std::string& comments, const py::dict& tables) {
                 ppocoder::DataFlowTables t;
                 for (auto [k, v] : tables) {
                     auto key = py::str(k).cast<std::string>();
                     if (py::isinstance<py::str>(v) || py::isinstance<py::bool_>(v)) {
                         t.options[key] = py::isinstance<py::bool_>(v) ? (v.cast<bool>() ? "true" : "false")
                                                                        : v.cast<std::string>();
                         continue;
                     }
                     try {
                         t.lists[key] = v.cast<std::vector<std::string>>();
                     } catch (const py::cast_error&) {
                         throw py::type_error("data-flow spec key '" + key +
                                              "' must be a str, a bool or a sequence of str, got " +
                                              py::str(py::type::of(v).attr("__name__")).cast<std::string>());
                     }
                 }
                 try {
                     return std::make_shared<Language>(
                         ppocoder::make_language(language_from_capsule(capsule), strip_style(comments), t));
                 } catch (const std::invalid_argument& e) {
                     throw py::value_error(e.what());
                 }
             }),
             py::arg("grammar"), py::arg("comments"), py::arg("tables"));

    m.def(
        "match",
        [](const Language& lang, const py::sequence& candidates, const py::sequence& references, int threads) {
            auto cands = byte_list(candidates, "candidates");
            auto refs = byte_list(references, "references");
            if (cands.size() != refs.size()) throw py::value_error("candidates and references differ in length");
            std::vector<ppocoder::MatchRow> rows;
            {
                py::gil_scoped_release release;
                rows = ppocoder::match_batch(lang, cands, refs, threads);
            }
            auto n = static_cast<py::ssize_t>(rows.size());
            py::array_t<int64_t> am(n), at(n), dm(n), dt(n), dc(n);
            auto a = am.mutable_unchecked<1>(), b = at.mutable_unchecked<1>();
            auto c = dm.mutable_unchecked<1>(), d = dt.mutable_unchecked<1>(), e = dc.mutable_unchecked<1>();
            for (py::ssize_t i = 0; i < n; ++i) {
                a(i) = rows[i].ast_match;
                b(i) = rows[i].ast_total;
                c(i) = rows[i].dfg_match;
                d(i) = rows[i].dfg_total;
                e(i) = rows[i].dfg_candidate_total;
            }
            return py::make_tuple(am, at, dm, dt, dc);
        },
        py::arg("language"), py::arg("candidates"), py::arg("references"), py::arg("threads"),
        "Per-pair (ast_match, ast_total, dfg_match, dfg_total, dfg_candidate_total) int64 arrays; runs "
        "without the GIL.");

    m.def(
        "strip_comments",
        [](const Language& lang, const py::bytes& source) {
            std::string src = source;
            std::string out;
            {
                py::gil_scoped_release release;
                out = ppocoder::strip_comments(src, lang.strip);
            }
            return to_bytes(out);
        },
        py::arg("language"), py::arg("source"), "The source after CodeBLEU-style comment removal.");

    m.def(
        "subtree_hashes",
        [](const Language& lang, const py::bytes& stripped_source) {
            std::string src = stripped_source;
            std::vector<uint64_t> out;
            {
                py::gil_scoped_release release;
                out = ppocoder::subtree_hashes_of(lang, src);
            }
            return out;
        },
        py::arg("language"), py::arg("stripped_source"),
        "Hashes of the root and of every node with children, in pre-order (for tests).");

    m.def(
        "walk_matches_cursor",
        [](const Language& lang, const py::bytes& source) {
            std::string src = source;
            py::gil_scoped_release release;
            return ppocoder::walk_matches_cursor(lang, src);
        },
        py::arg("language"), py::arg("source"),
        "True when the direct tree walk and the tree-sitter cursor walk flatten `source`'s tree "
        "identically (for tests).");
    m.attr("direct_walk") = ppocoder::direct_walk_available();

    m.def(
        "incremental_matches_fresh",
        [](const Language& lang, const py::bytes& candidate, const py::bytes& reference) {
            std::string cand = candidate, ref = reference;
            py::gil_scoped_release release;
            return ppocoder::incremental_matches_fresh(lang, cand, ref);
        },
        py::arg("language"), py::arg("candidate"), py::arg("reference"),
        "True when parsing `candidate` incrementally from `reference`'s tree gives the same tree and "
        "analysis as a fresh parse (for tests).");

    m.def(
        "source_edits",
        [](const py::bytes& old_src, const py::bytes& new_src, size_t max_edits) {
            std::string a = old_src, b = new_src;
            auto edits = ppocoder::source_edits(a, b, max_edits);
            py::list out;
            for (const auto& e : edits)
                out.append(py::make_tuple(e.start_byte, e.old_end_byte, e.new_end_byte,
                                          py::make_tuple(e.start_point.row, e.start_point.column),
                                          py::make_tuple(e.old_end_point.row, e.old_end_point.column),
                                          py::make_tuple(e.new_end_point.row, e.new_end_point.column)));
            return out;
        },
        py::arg("old_source"), py::arg("new_source"), py::arg("max_edits"),
        "The tree-sitter edits (start, old_end, new_end bytes; start, old_end, new_end (row, column) "
        "points), in application order, that turn `old_source` into `new_source` (for tests).");

    m.def(
        "dataflow",
        [](const Language& lang, const py::bytes& stripped_source) {
            std::string src = stripped_source;
            std::vector<ppocoder::FlowItem> items;
            {
                py::gil_scoped_release release;
                items = ppocoder::dataflow_items(lang, src);
            }
            py::list out;
            for (const auto& it : items) {
                py::list parents;
                for (const auto& p : it.parents) parents.append(to_bytes(p));
                out.append(py::make_tuple(to_bytes(it.var), it.index,
                                          it.computed_from ? "computedFrom" : "comesFrom", parents));
            }
            return out;
        },
        py::arg("language"), py::arg("stripped_source"),
        "Data-flow items (name, token index, relation, parent names) of an already stripped source.");
}
