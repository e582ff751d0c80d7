// The one pybind11 file: converts Python values to plain C++ and releases the GIL.
#include <pybind11/pybind11.h>

#include <string>

#include "parse.hpp"

namespace py = pybind11;

static const TSLanguage* language_from_capsule(const py::object& capsule) {
    void* ptr = PyCapsule_GetPointer(capsule.ptr(), "tree_sitter.Language");
    if (ptr == nullptr) {
        PyErr_Clear();
        throw py::type_error("expected the capsule returned by a tree-sitter grammar's language()");
    }
    return static_cast<const TSLanguage*>(ptr);
}

PYBIND11_MODULE(_native, m) {
    m.doc() = "PPOCoder native engine (tree-sitter walks, subtree hashing, data-flow graphs)";
    m.def(
        "count_nodes",
        [](const py::object& capsule, const py::bytes& source) {
            const TSLanguage* lang = language_from_capsule(capsule);
            std::string src = source;
            py::gil_scoped_release release;
            return ppocoder::count_nodes(lang, src);
        },
        py::arg("language"), py::arg("source"),
        "Parse `source` and return the number of named nodes (-1 if the grammar ABI is unsupported).");
}
