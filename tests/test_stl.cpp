// test_stl.cpp - the C++ allocators of mialloc.h under the standard containers.
//
// Build (tests/engine.mk; release with the strict C++ flags, and under
// ASan/UBSan as `make run-stl`):
//   clang++-19 -std=c++17 -O1 -g -fsanitize=address,undefined <STYLE.md warnings>
//     -Werror -I. tests/test_stl.cpp -o test_stl -pthread
// Run: ./test_stl        (~1 s release, ~10 s under ASan)
//
// std::vector, std::map, std::unordered_map and std::basic_string, each with
// 10^6 elements, on
//   mia_stl_allocator               the calling thread's default heap
//   mia_heap_stl_allocator          one heap (its statistics must show the
//                                   containers' blocks, and none once they are
//                                   gone); also from a second thread, which
//                                   reaches the heap through its shared part
//   mia_heap_destroy_stl_allocator  one heap released by mia_heap_destroy in
//                                   one call (deallocate does nothing); and
//                                   default-constructed: a heap of its own,
//                                   destroyed with the allocator's last copy
// plus an over-aligned element type. Every container's contents are checked
// against what was put in. The runner is tests/runner.h's contract in C++:
// each CHECK counts, a failure prints file:line and goes on, the last line is
// "N passed, N failed" and the exit code is non-zero on any failure.
#define MIALLOC_IMPLEMENTATION
#include "mialloc.h"

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

long g_passed = 0, g_failed = 0;

void check(bool ok, const char* expr, const char* file, int line) {
  if (ok) {
    g_passed++;
  } else {
    g_failed++;
    std::fprintf(stderr, "%s:%d: FAILED: CHECK(%s)\n", file, line, expr);
  }
}
#define CHECK(expr) check((expr), #expr, __FILE__, __LINE__)

constexpr int kN = 1000000;

template <class T> using heap_alloc = mia_heap_stl_allocator<T>;

// A string longer than any small-string buffer, so every one allocates.
template <class S> S make_string(int i, const typename S::allocator_type& a) {
  S s(a);
  s.append("element-number-");
  char digits[16];
  std::snprintf(digits, sizeof digits, "%d", i);
  s.append(digits);
  s.append("-with-a-tail");
  return s;
}

// The four containers over allocator template A (A<T> for each element type),
// filled with kN elements and checked. `make` builds an allocator of A<T>.
template <template <class> class A, class Make> void run_containers(const char* what, Make make) {
  using str = std::basic_string<char, std::char_traits<char>, A<char>>;
  std::uint64_t sum = 0, expect = 0;

  // vector<int>: growth by reallocation
  {
    std::vector<int, A<int>> v(make.template get<int>());
    for (int i = 0; i < kN; i++) v.push_back(i * 3);
    bool ok = (v.size() == static_cast<std::size_t>(kN));
    for (int i = 0; i < kN && ok; i++) ok = (v[static_cast<std::size_t>(i)] == i * 3);
    CHECK(ok);
    v.resize(10);
    v.shrink_to_fit();
    CHECK(v.size() == 10 && v[9] == 27);
  }
  // map<int, int>: one node per element, half erased
  {
    using pair_t = std::pair<const int, int>;
    std::map<int, int, std::less<int>, A<pair_t>> m(std::less<int>(), make.template get<pair_t>());
    for (int i = 0; i < kN; i++) m.emplace(i, i ^ 0x5555);
    CHECK(m.size() == static_cast<std::size_t>(kN));
    for (int i = 0; i < kN; i += 2) m.erase(i);
    CHECK(m.size() == static_cast<std::size_t>(kN / 2));
    bool ok = true;
    int k = 1;
    for (const auto& kv : m) {
      ok = ok && kv.first == k && kv.second == (k ^ 0x5555);
      k += 2;
    }
    CHECK(ok);
  }
  // unordered_map<int, long>: nodes and a bucket array that is rehashed as it grows
  {
    using pair_t = std::pair<const int, long>;
    std::unordered_map<int, long, std::hash<int>, std::equal_to<int>, A<pair_t>> m(
        16, std::hash<int>(), std::equal_to<int>(), make.template get<pair_t>());
    for (int i = 0; i < kN; i++) m.emplace(i, static_cast<long>(i) * 7);
    CHECK(m.size() == static_cast<std::size_t>(kN));
    bool ok = true;
    for (int i = 0; i < kN && ok; i += 97) {
      auto it = m.find(i);
      ok = (it != m.end() && it->second == static_cast<long>(i) * 7);
    }
    CHECK(ok);
    m.clear();
    CHECK(m.empty());
  }
  // vector of basic_string: every string allocates with the same allocator
  {
    std::vector<str, A<str>> v(make.template get<str>());
    v.reserve(16);
    for (int i = 0; i < kN; i++) v.push_back(make_string<str>(i, make.template get<char>()));
    for (int i = 0; i < kN; i += 1000) {
      const str& s = v[static_cast<std::size_t>(i)];
      for (char c : s) sum = sum * 31 + static_cast<unsigned char>(c);
      str t = make_string<str>(i, make.template get<char>());
      for (char c : t) expect = expect * 31 + static_cast<unsigned char>(c);
    }
    CHECK(sum == expect);
    str joined(make.template get<char>());
    for (int i = 0; i < 20000; i++) joined += v[static_cast<std::size_t>(i)]; // growth by realloc-like moves
    CHECK(joined.size() > 20000u * 20u);
    CHECK(joined.compare(0, 15, "element-number-") == 0);
  }
  // an over-aligned element type: the allocator asks for its alignment
  {
    struct alignas(64) wide {
      int v[16];
    };
    std::vector<wide, A<wide>> v(make.template get<wide>());
    for (int i = 0; i < 1000; i++) {
      wide w{};
      w.v[0] = i;
      v.push_back(w);
    }
    CHECK((reinterpret_cast<std::uintptr_t>(v.data()) & 63) == 0);
    CHECK(v[999].v[0] == 999);
  }
  std::printf("ok   %s\n", what);
  std::fflush(stdout);
}

struct make_default {
  template <class T> mia_stl_allocator<T> get() const { return mia_stl_allocator<T>(); }
};
struct make_heap {
  mia_heap_t* heap;
  template <class T> mia_heap_stl_allocator<T> get() const { return mia_heap_stl_allocator<T>(heap); }
};
struct make_destroy {
  mia_heap_t* heap;
  template <class T> mia_heap_destroy_stl_allocator<T> get() const { return mia_heap_destroy_stl_allocator<T>(heap); }
};

mia_heap_stats_t stats_of(mia_heap_t* heap) {
  mia_heap_stats_t st;
  std::memset(&st, 0, sizeof st);
  mia_heap_stats_get(heap, &st);
  return st;
}

void test_default_heap() { run_containers<mia_stl_allocator>("mia_stl_allocator: vector, map, unordered_map, string", make_default{}); }

void test_heap() {
  mia_heap_t* heap = mia_heap_new();
  CHECK(heap != nullptr);
  if (heap == nullptr) return;
  mia_heap_set_name(heap, "stl");
  run_containers<mia_heap_stl_allocator>("mia_heap_stl_allocator: vector, map, unordered_map, string", make_heap{heap});
  // every container is gone: so are its blocks
  CHECK(stats_of(heap).live_blocks == 0);

  // blocks are the heap's while the container lives
  {
    using pair_t = std::pair<const int, int>;
    std::map<int, int, std::less<int>, heap_alloc<pair_t>> m{heap_alloc<pair_t>(heap)};
    for (int i = 0; i < 1000; i++) m.emplace(i, i);
    CHECK(stats_of(heap).live_blocks == 1000);
    CHECK(mia_heap_contains_block(heap, &*m.begin()));
    // allocators of one heap compare equal (so containers may swap and move)
    CHECK(heap_alloc<int>(heap) == heap_alloc<long>(heap));
    CHECK(heap_alloc<int>(heap) != heap_alloc<int>(mia_heap_get_default()));
  }
  CHECK(stats_of(heap).live_blocks == 0);

  // a second thread fills a map from this thread's heap (the non-owner path), this thread empties it
  {
    using pair_t = std::pair<const int, std::uint64_t>;
    using map_t = std::map<int, std::uint64_t, std::less<int>, heap_alloc<pair_t>>;
    map_t m{heap_alloc<pair_t>(heap)};
    std::thread t([&m] {
      for (int i = 0; i < kN / 10; i++) m.emplace(i, static_cast<std::uint64_t>(i) * 11);
    });
    t.join();
    CHECK(m.size() == static_cast<std::size_t>(kN / 10));
    CHECK(m.at(12345) == 12345u * 11);
    CHECK(stats_of(heap).live_blocks == static_cast<std::size_t>(kN / 10));
  }
  CHECK(stats_of(heap).live_blocks == 0);
  mia_heap_destroy(heap);
}

void test_destroy_heap() {
  mia_heap_t* heap = mia_heap_new();
  CHECK(heap != nullptr);
  if (heap == nullptr) return;
  run_containers<mia_heap_destroy_stl_allocator>("mia_heap_destroy_stl_allocator: vector, map, unordered_map, string",
                                                 make_destroy{heap});
  // deallocate did nothing: everything is still there until the heap goes
  mia_heap_stats_t st = stats_of(heap);
  CHECK(st.live_blocks > static_cast<std::size_t>(kN));
  // a level's data: built and never torn down element by element
  using pair_t = std::pair<const int, int>;
  using map_t = std::map<int, int, std::less<int>, mia_heap_destroy_stl_allocator<pair_t>>;
  void* mem = mia_heap_malloc(heap, sizeof(map_t));
  CHECK(mem != nullptr);
  if (mem != nullptr) {
    map_t* m = new (mem) map_t(mia_heap_destroy_stl_allocator<pair_t>(heap));
    for (int i = 0; i < 100000; i++) m->emplace(i, -i);
    CHECK(m->size() == 100000u && m->at(777) == -777);
    // no destructor call: mia_heap_destroy takes the nodes and the map itself
  }
  mia_heap_destroy(heap);
  std::printf("ok   mia_heap_destroy after %zu live blocks\n", st.live_blocks);
}

// Default-constructed (mimalloc's form), mia_heap_destroy_stl_allocator makes
// a heap of its own, shared by its copies and rebinds (and by moves, which
// copy), and destroyed when the last of them goes.
void test_destroy_default() {
  using A = mia_heap_destroy_stl_allocator<int>;
  using pair_t = std::pair<const int, int>;
  mia_stats_t during, after;
  std::memset(&during, 0, sizeof during);
  {
    std::vector<int, A> v;
    mia_heap_t* heap = v.get_allocator().heap;
    CHECK(heap != nullptr && heap != mia_heap_get_default());
    if (heap == nullptr) return;
    for (int i = 0; i < kN; i++) v.push_back(i * 5);
    bool ok = true;
    for (int i = 0; i < kN && ok; i++) ok = (v[static_cast<std::size_t>(i)] == i * 5);
    CHECK(ok);
    CHECK(mia_heap_contains_block(heap, v.data()));
    CHECK(A() != v.get_allocator()); // another default-constructed one: another heap
    // a rebind shares the heap (and keeps it alive)
    mia_heap_destroy_stl_allocator<pair_t> pa(v.get_allocator());
    {
      std::map<int, int, std::less<int>, mia_heap_destroy_stl_allocator<pair_t>> m(std::less<int>(), pa);
      for (int i = 0; i < kN / 10; i++) m.emplace(i, -i);
      CHECK(m.size() == static_cast<std::size_t>(kN / 10) && m.at(4321) == -4321);
      CHECK(mia_heap_contains_block(heap, &*m.begin()));
    }
    // copies share it; a moved-from container keeps its allocator's heap
    std::vector<int, A> w(v);
    CHECK(w.get_allocator() == v.get_allocator() && w[777] == 777 * 5);
    std::vector<int, A> x(std::move(w));
    CHECK(x.get_allocator() == v.get_allocator() && w.get_allocator() == v.get_allocator());
    w.push_back(1); // the moved-from vector is still usable on the same heap
    CHECK(w.back() == 1 && mia_heap_contains_block(heap, w.data()));
    CHECK(stats_of(heap).live_blocks > 0);
    mia_stats_get(&during);
  }
  // the last copy went: the heap went with it, and its pages
  mia_stats_get(&after);
  CHECK(after.pages < during.pages);
  std::printf("ok   default-constructed mia_heap_destroy_stl_allocator: pages %zu -> %zu\n", during.pages, after.pages);
}

} // namespace

int main() {
  test_default_heap();
  test_heap();
  test_destroy_heap();
  test_destroy_default();
  std::printf("%ld passed, %ld failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
