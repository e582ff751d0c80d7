// A vector of trivially copyable values that keeps up to N of them inline: most
// data-flow edges have one parent, most definition sets one index, so the walker
// rarely touches the heap. Only what the walker needs.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <new>

namespace ppocoder {

template <typename T, uint32_t N>
class SmallVector {
  public:
    using value_type = T;
    using iterator = T*;
    using const_iterator = const T*;

    SmallVector() = default;
    SmallVector(std::initializer_list<T> init) {
        reserve(static_cast<uint32_t>(init.size()));
        for (const T& v : init) push_back(v);
    }
    SmallVector(const SmallVector& o) { assign(o.begin(), o.end()); }
    SmallVector(SmallVector&& o) noexcept { steal(o); }
    SmallVector& operator=(const SmallVector& o) {
        if (this != &o) {
            size_ = 0;
            assign(o.begin(), o.end());
        }
        return *this;
    }
    SmallVector& operator=(SmallVector&& o) noexcept {
        if (this != &o) {
            release();
            steal(o);
        }
        return *this;
    }
    ~SmallVector() { release(); }

    T* data() { return on_heap() ? heap_ : inline_; }
    const T* data() const { return on_heap() ? heap_ : inline_; }
    T* begin() { return data(); }
    T* end() { return data() + size_; }
    const T* begin() const { return data(); }
    const T* end() const { return data() + size_; }
    uint32_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    void clear() { size_ = 0; }
    T& operator[](uint32_t i) { return data()[i]; }
    const T& operator[](uint32_t i) const { return data()[i]; }
    T& back() { return data()[size_ - 1]; }

    void reserve(uint32_t n) {
        if (n <= capacity()) return;
        uint32_t cap = std::max(n, capacity() * 2);  // > N, so on_heap() holds
        T* p = static_cast<T*>(std::malloc(sizeof(T) * cap));
        if (p == nullptr) throw std::bad_alloc();
        std::memcpy(p, data(), sizeof(T) * size_);
        if (on_heap()) std::free(heap_);
        heap_ = p;
        cap_ = cap;
    }
    void push_back(const T& v) {
        if (size_ == capacity()) {
            T copy = v;  // v may live in this vector
            reserve(size_ + 1);
            data()[size_++] = copy;
            return;
        }
        data()[size_++] = v;
    }
    void resize(uint32_t n) {  // shrink, or grow with default values
        reserve(n);
        for (uint32_t i = size_; i < n; ++i) data()[i] = T();
        size_ = n;
    }
    template <typename It>
    void append(It first, It last) {
        reserve(size_ + static_cast<uint32_t>(last - first));
        for (; first != last; ++first) data()[size_++] = *first;
    }
    template <typename It>
    void assign(It first, It last) {
        size_ = 0;
        append(first, last);
    }
    void sort_unique() {
        std::sort(begin(), end());
        size_ = static_cast<uint32_t>(std::unique(begin(), end()) - begin());
    }
    bool operator==(const SmallVector& o) const {
        return size_ == o.size_ && std::equal(begin(), end(), o.begin());
    }

  private:
    bool on_heap() const { return cap_ > N; }  // heap buffers always hold more than N
    uint32_t capacity() const { return cap_; }
    void release() {
        if (on_heap()) std::free(heap_);
        cap_ = N;
        size_ = 0;
    }
    void steal(SmallVector& o) {
        size_ = o.size_;
        cap_ = o.cap_;
        if (o.on_heap()) heap_ = o.heap_;
        else std::memcpy(inline_, o.inline_, sizeof(T) * size_);
        o.cap_ = N;
        o.size_ = 0;
    }

    uint32_t size_ = 0;
    uint32_t cap_ = N;
    union {
        T inline_[N];
        T* heap_;
    };
};

}  // namespace ppocoder
