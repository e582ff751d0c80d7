// The allocator handed to the compiled-in tree-sitter runtime (ts_set_allocator).
//
// A parse allocates and frees thousands of small blocks (subtrees, stack nodes,
// small arrays), and deleting a tree frees them all at once. glibc's per-thread
// cache holds 7 blocks per size, so those bursts spill into the arena's bins
// (_int_free, malloc_consolidate: ~10% of a match in profiles). Here freed
// blocks of up to 512 bytes go to a per-thread free list per 16-byte size class
// (up to kCacheCap each) and come back from it; larger blocks go straight to
// malloc. A block freed on another thread joins that thread's lists. A thread's
// lists are returned to malloc when the thread ends.
#include <pthread.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <tree_sitter/api.h>

namespace ppocoder {
namespace {

constexpr size_t kStep = 16;           // size-class granularity and header size
constexpr uint32_t kClasses = 32;      // classes of 16..512 bytes
constexpr uint32_t kCacheCap = 512;    // cached blocks per class and thread
constexpr uint64_t kLarge = ~uint64_t(0);

struct alignas(16) Header {
    uint64_t cls;       // size class, or kLarge
    uint64_t capacity;  // usable bytes after the header
};
static_assert(sizeof(Header) == kStep, "header keeps 16-byte alignment");

struct Cache {
    void* head[kClasses];  // free blocks (payload pointers), linked through their first word
    uint32_t count[kClasses];
};

pthread_key_t cache_key;
thread_local Cache* tl_cache = nullptr;

void drain(void* arg) {
    auto* c = static_cast<Cache*>(arg);
    for (uint32_t k = 0; k < kClasses; ++k) {
        for (void* p = c->head[k]; p != nullptr;) {
            void* next = *static_cast<void**>(p);
            std::free(static_cast<Header*>(p) - 1);
            p = next;
        }
    }
    std::free(c);
    tl_cache = nullptr;
}

inline Cache* cache() {
    Cache* c = tl_cache;
    if (c == nullptr) {
        c = static_cast<Cache*>(std::calloc(1, sizeof(Cache)));
        if (c == nullptr) return nullptr;
        if (pthread_setspecific(cache_key, c) != 0) {
            std::free(c);
            return nullptr;
        }
        tl_cache = c;
    }
    return c;
}

[[noreturn]] void out_of_memory(size_t n) {
    std::fprintf(stderr, "tree-sitter failed to allocate %zu bytes\n", n);  // as the runtime's own allocator
    std::abort();
}

void* block(uint64_t cls, size_t capacity) {
    auto* h = static_cast<Header*>(std::malloc(sizeof(Header) + capacity));
    if (h == nullptr) out_of_memory(capacity);
    h->cls = cls;
    h->capacity = capacity;
    return h + 1;
}

void* ts_alloc(size_t n) {
    if (n > kClasses * kStep) return block(kLarge, n);
    uint32_t cls = n == 0 ? 0 : static_cast<uint32_t>((n - 1) / kStep);
    if (Cache* c = cache(); c != nullptr && c->head[cls] != nullptr) {
        void* p = c->head[cls];
        c->head[cls] = *static_cast<void**>(p);
        --c->count[cls];
        return p;
    }
    return block(cls, (cls + 1) * kStep);
}

void ts_release(void* p) {
    if (p == nullptr) return;
    Header* h = static_cast<Header*>(p) - 1;
    if (h->cls != kLarge) {
        Cache* c = cache();
        if (c != nullptr && c->count[h->cls] < kCacheCap) {
            *static_cast<void**>(p) = c->head[h->cls];
            c->head[h->cls] = p;
            ++c->count[h->cls];
            return;
        }
    }
    std::free(h);
}

void* ts_zeroed(size_t count, size_t size) {
    if (size != 0 && count > SIZE_MAX / size) out_of_memory(SIZE_MAX);
    void* p = ts_alloc(count * size);
    std::memset(p, 0, count * size);
    return p;
}

void* ts_resize(void* p, size_t n) {
    if (p == nullptr) return ts_alloc(n);
    Header* h = static_cast<Header*>(p) - 1;
    if (n <= h->capacity) return p;
    if (h->cls == kLarge) {
        auto* g = static_cast<Header*>(std::realloc(h, sizeof(Header) + n));
        if (g == nullptr) out_of_memory(n);
        g->capacity = n;
        return g + 1;
    }
    void* q = ts_alloc(n);
    std::memcpy(q, p, h->capacity);
    ts_release(p);
    return q;
}

bool installed = false;

}  // namespace

// Installs the allocator. Must run before the runtime allocates anything (the
// extension's module initialisation): blocks from another allocator would reach
// ts_release.
void install_tree_sitter_allocator() {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, [] {
#ifdef PPOCODER_TS_INTERNALS  // never for a system library: others may share its allocator
        if (pthread_key_create(&cache_key, drain) != 0) return;  // keep the default allocator
        ts_set_allocator(ts_alloc, ts_zeroed, ts_resize, ts_release);
        installed = true;
#endif
    });
}

void free_tree_sitter_string(char* text) {
    if (installed) ts_release(text);
    else std::free(text);
}

}  // namespace ppocoder
