/*
 * tiny.cpp - millions of tiny long-lived objects, the way C++ programs make
 * them: nodes of a std::forward_list (16-byte requests), of a std::set
 * (40-byte nodes) and small structs held by pointer in a std::vector (24
 * bytes). All are built, walked a few times (so the allocator's placement
 * decides the cache behaviour), lightly churned (a tenth of the set erased and
 * reinserted) and torn down. Per-object overhead is what the peak RSS shows.
 */
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <forward_list>
#include <memory>
#include <set>
#include <vector>

#include "bench_util.h"

namespace {

struct small {
  std::uint64_t key;
  std::uint64_t value;
  std::uint32_t flags;
};
static_assert(sizeof(small) == 24, "a 24-byte request");

constexpr std::size_t kObjects = 4500000;  // full size, split over three kinds

}  // namespace

int main(int argc, char **argv) {
  double scale = bench_scale(argc, argv, nullptr);
  std::size_t per_kind = bench_scaled(kObjects, scale, 3000) / 3;
  bench_rng_t rng = {99};

  double t0 = bench_now();
  std::forward_list<std::uint32_t> list;
  std::set<std::uint64_t> set;
  std::vector<std::unique_ptr<small>> smalls;
  for (std::size_t i = 0; i < per_kind; i++) {
    list.push_front(static_cast<std::uint32_t>(i));
    set.insert(set.end(), std::uint64_t{i} * 2);  // hinted: the node, not the search, costs
    smalls.push_back(std::unique_ptr<small>(new small{i, i * 3, static_cast<std::uint32_t>(i)}));
  }

  std::uint64_t sum = 0;
  for (int pass = 0; pass < 3; pass++) {
    for (std::uint32_t v : list)
      sum += v;
    for (std::uint64_t v : set)
      sum ^= v;
    for (const auto &s : smalls)
      sum += s->value - s->key;
  }

  // Light churn: every tenth node of the set goes, and as many new keys come
  // in between the survivors, so the new nodes land among old neighbours.
  std::size_t erased = 0;
  for (auto it = set.begin(); it != set.end(); erased++) {
    it = set.erase(it);
    for (int skip = 0; skip < 9 && it != set.end(); skip++)
      ++it;
  }
  for (std::size_t i = 0; i < erased; i++)
    set.insert(std::uint64_t{bench_below(&rng, per_kind)} * 2 + 1);
  bench_check(set.size() <= per_kind && set.size() + erased >= per_kind, "the set lost elements");

  std::size_t count = 0;
  for (std::uint32_t v : list)
    count += v < per_kind;
  bench_check(count == per_kind, "the list lost nodes");
  list.clear();
  set.clear();
  smalls.clear();
  double t1 = bench_now();

  std::printf("tiny: %zu objects, %.1f ns/object (checksum %llx)\n", per_kind * 3,
              (t1 - t0) * 1e9 / static_cast<double>(per_kind * 3),
              static_cast<unsigned long long>(sum & 0xffff));
  return 0;
}
