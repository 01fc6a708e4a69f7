// stl_heavy.cpp - a C++ program that allocates through the STL, built with
// mialloc's static override (MIALLOC_OVERRIDE=1 in this translation unit) and
// without it, for make test-override.
//
// Build (tests/override.mk):
//   c++ -std=c++17 -O2 -DSTL_OVERRIDE=1 -I. tests/override/stl_heavy.cpp -o stl_override -pthread
//   c++ -std=c++17 -O2 -DSTL_OVERRIDE=0 -I. tests/override/stl_heavy.cpp -o stl_plain -pthread
//
// Both builds hold the implementation (so both can ask mia_check_owned); only
// the first defines malloc, free, ... and every operator new/delete. The
// workload: std::map<int, std::string>, std::unordered_map<std::string, long>,
// std::vector<std::string> sorted, vectors of vectors, a std::list, an
// over-aligned type through aligned new, and maps built on one thread and
// destroyed on another -- up to 10^6 elements each. Every line but the last is a
// checksum that depends only on the program, so the two builds print the same
// lines; the last line says whose memory malloc and new returned:
//   owned: malloc=1 new=1 new[]=1 aligned-new=1 string=1 thread=1   (override)
//   owned: malloc=0 new=0 new[]=0 aligned-new=0 string=0 thread=0   (plain)
// make test-override compares the checksum lines and checks the last one.
#ifndef STL_OVERRIDE
#define STL_OVERRIDE 0
#endif
#define MIALLOC_IMPLEMENTATION
#if STL_OVERRIDE
#define MIALLOC_OVERRIDE 1
#endif
#include "mialloc.h"

#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <list>
#include <map>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

constexpr int kN = 1000000;

// FNV-1a over the bytes of a string, folded into a running sum.
std::uint64_t mix(std::uint64_t h, const std::string& s) {
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
  h ^= v + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
  return h;
}

std::string make_string(int i) {
  std::string s = "item-" + std::to_string(i);
  s.append(static_cast<std::size_t>(i % 40), static_cast<char>('a' + i % 26)); // some long enough for the heap
  return s;
}

void map_of_strings() {
  std::map<int, std::string> m;
  for (int i = 0; i < kN; i++) m.emplace(static_cast<int>(static_cast<long long>(i) * 7919 % kN), make_string(i));
  std::uint64_t h = 0;
  for (int i = 0; i < kN; i += 2) m.erase(i);
  for (const auto& kv : m) h = mix(mix(h, static_cast<std::uint64_t>(kv.first)), kv.second);
  std::printf("map: %zu entries, hash %016" PRIx64 "\n", m.size(), h);
}

void unordered_map_of_counts() {
  std::unordered_map<std::string, long> u;
  u.reserve(16);  // grow by rehashing
  for (int i = 0; i < kN / 2; i++) u[make_string(i % (kN / 4))] += i;
  std::vector<std::pair<std::string, long>> items(u.begin(), u.end());
  std::sort(items.begin(), items.end());
  std::uint64_t h = 0;
  for (const auto& kv : items) h = mix(mix(h, kv.first), static_cast<std::uint64_t>(kv.second));
  std::printf("unordered_map: %zu keys, hash %016" PRIx64 "\n", u.size(), h);
}

void vector_of_strings() {
  std::vector<std::string> v;
  for (int i = 0; i < kN; i++) v.push_back(make_string(kN - i));  // push_back: reallocation
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  std::uint64_t h = 0;
  for (std::size_t i = 0; i < v.size(); i += 97) h = mix(h, v[i]);
  std::vector<std::vector<int>> rows;
  for (int i = 0; i < kN / 10; i++) rows.emplace_back(static_cast<std::size_t>(i % 20), i);
  std::uint64_t sum = 0;
  for (const auto& r : rows)
    for (int x : r) sum += static_cast<std::uint64_t>(x);
  std::printf("vector: %zu strings, hash %016" PRIx64 ", rows sum %" PRIu64 "\n", v.size(), h, sum);
}

void list_and_aligned() {
  std::list<std::string> l;
  for (int i = 0; i < kN / 4; i++) {
    if (i % 3 == 0) l.push_front(make_string(i));
    else l.push_back(make_string(i));
  }
  l.sort();
  std::uint64_t h = 0;
  for (const auto& s : l) h = mix(h, s);
  struct alignas(64) Cell {
    std::uint64_t v[8];
  };
  std::vector<Cell*> cells;
  std::size_t misaligned = 0;
  for (int i = 0; i < kN / 10; i++) {
    Cell* c = new Cell{};
    if (reinterpret_cast<std::uintptr_t>(c) % 64 != 0) misaligned++;
    c->v[0] = static_cast<std::uint64_t>(i);
    cells.push_back(c);
  }
  std::uint64_t cs = 0;
  for (Cell* c : cells) {
    cs += c->v[0];
    delete c;
  }
  std::printf("list: %zu strings, hash %016" PRIx64 "; aligned cells: sum %" PRIu64 ", misaligned %zu\n", l.size(),
              h, cs, misaligned);
}

// Maps built on worker threads, handed to the main thread and destroyed there.
void cross_thread() {
  constexpr int kThreads = 4;
  std::vector<std::map<int, std::string>*> made(kThreads, nullptr);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([t, &made] {
      auto* m = new std::map<int, std::string>;
      for (int i = 0; i < kN / 8; i++) (*m)[i * kThreads + t] = make_string(i + t);
      made[static_cast<std::size_t>(t)] = m;
    });
  }
  for (auto& th : threads) th.join();
  std::uint64_t h = 0;
  std::size_t total = 0;
  for (auto* m : made) {
    total += m->size();
    for (const auto& kv : *m) h = mix(h, kv.second);
    delete m;  // freed by a thread that did not allocate it
  }
  std::printf("threads: %zu entries, hash %016" PRIx64 "\n", total, h);
}

// Whose memory do malloc and new hand out? mia_check_owned asks the calling
// thread's heap, so each pointer is checked on the thread that allocated it.
void ownership() {
  void* m = std::malloc(100);
  int* n = new int(7);
  long* arr = new long[1000];
  struct alignas(256) Big {
    char c[256];
  };
  Big* big = new Big;
  std::string s(500, 'x');
  bool thread_owned = false;
  std::thread th([&thread_owned] {
    auto* v = new std::vector<int>(1000, 1);
    thread_owned = mia_check_owned(v) && mia_check_owned(v->data());
    delete v;
  });
  th.join();
  std::printf("owned: malloc=%d new=%d new[]=%d aligned-new=%d string=%d thread=%d\n", mia_check_owned(m) ? 1 : 0,
              mia_check_owned(n) ? 1 : 0, mia_check_owned(arr) ? 1 : 0, mia_check_owned(big) ? 1 : 0,
              mia_check_owned(s.data()) ? 1 : 0, thread_owned ? 1 : 0);
  delete big;
  delete[] arr;
  delete n;
  std::free(m);
}

}  // namespace

int main() {
  map_of_strings();
  unordered_map_of_counts();
  vector_of_strings();
  list_and_aligned();
  cross_thread();
  ownership();
  return 0;
}
