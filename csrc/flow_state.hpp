// The walker's state: name -> token indices that may define it, with an undo
// journal. Internal to csrc/dataflow.cpp; no Python in this file.
#pragma once
#include <algorithm>
#include <cstdint>
#include <iterator>
#include <utility>
#include <vector>

#include "engine.hpp"
#include "small_vector.hpp"

namespace ppocoder {
namespace flow {

using IdxSet = SmallVector<uint32_t, 2>;  // sorted, unique token indices
using Names = SmallVector<uint32_t, 2>;   // parent names (text ids), order and repeats kept

inline IdxSet set_union(const IdxSet& a, const IdxSet& b) {
    if (a.empty()) return b;
    if (b.empty() || a == b) return a;
    IdxSet out;
    out.reserve(a.size() + b.size());
    std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
    return out;
}

// Name -> definitions, with an undo journal so that branches and memoized loops
// cost what they change rather than the size of the whole state. Names are
// dense text ids, so the map is a plain vector.
class States {
  public:
    // Empties the state for `names` text ids (buffers keep their capacity).
    void resize(size_t names) {
        val_.assign(names, IdxSet());
        present_.assign(names, 0);
        log_.clear();
        hash_ = 0;
    }
    const IdxSet* get(uint32_t code) const { return present_[code] ? &val_[code] : nullptr; }
    void set(uint32_t code, IdxSet value) {
        if (!present_[code]) {
            log_.push_back({code, false, {}});
            present_[code] = 1;
        } else {
            hash_ ^= entry_hash(code, val_[code]);
            log_.push_back({code, true, std::move(val_[code])});
        }
        hash_ ^= entry_hash(code, value);
        val_[code] = std::move(value);
    }
    size_t mark() const { return log_.size(); }
    void rollback(size_t m) {
        while (log_.size() > m) {
            Undo& u = log_.back();
            hash_ ^= entry_hash(u.code, val_[u.code]);
            if (u.had) {
                hash_ ^= entry_hash(u.code, u.old);
                val_[u.code] = std::move(u.old);
            } else {
                val_[u.code] = IdxSet();
                present_[u.code] = 0;
            }
            log_.pop_back();
        }
    }
    // Keys changed since `m`, with their current values (keys are never removed).
    std::vector<std::pair<uint32_t, IdxSet>> changes_since(size_t m) const {
        std::vector<uint32_t> keys;
        keys.reserve(log_.size() - m);
        for (size_t i = m; i < log_.size(); ++i) keys.push_back(log_[i].code);
        std::sort(keys.begin(), keys.end());
        keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
        std::vector<std::pair<uint32_t, IdxSet>> out;
        out.reserve(keys.size());
        for (uint32_t k : keys) out.emplace_back(k, val_[k]);
        return out;
    }
    uint64_t hash() const { return hash_; }

  private:
    static uint64_t entry_hash(uint32_t code, const IdxSet& v) {
        uint64_t h = mix64(code + 0x51ed270b27ULL);
        for (uint32_t x : v) h = mix64(h ^ x);
        return h;
    }
    struct Undo {
        uint32_t code;
        bool had;
        IdxSet old;
    };
    std::vector<IdxSet> val_;
    std::vector<uint8_t> present_;
    std::vector<Undo> log_;
    uint64_t hash_ = 0;
};

}  // namespace flow
}  // namespace ppocoder
