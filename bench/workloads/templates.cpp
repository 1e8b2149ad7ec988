// templates.cpp - the input of the g++ workload: a template-heavy translation
// unit, compiled (not run) under each allocator. It instantiates BENCH_N
// distinct record types, and for each one a std::map, std::unordered_map,
// std::vector with std::sort, std::variant visitation, std::function,
// std::tuple algebra and a compile-time recursion, the mix that makes real
// C++ builds spend their time (and their memory) in the compiler's front end
// and optimiser. BENCH_N sets the size: the runner passes 1 (at -O0) for --quick.
#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#ifndef BENCH_N
#define BENCH_N 3
#endif

namespace bench {

template <int I>
struct record {
  int key = I;
  double weight = I * 0.5;
  std::string name = "record" + std::to_string(I);
  std::array<int, (I % 7) + 1> extra{};
  bool operator<(const record &o) const { return std::tie(key, name) < std::tie(o.key, o.name); }
  bool operator==(const record &o) const { return key == o.key && name == o.name; }
};

template <int I>
struct hasher {
  std::size_t operator()(const record<I> &r) const {
    return std::hash<int>{}(r.key) ^ (std::hash<std::string>{}(r.name) << 1);
  }
};

// Compile-time recursion: a different depth per record type.
template <int N>
struct fib : std::integral_constant<long, fib<N - 1>::value + fib<N - 2>::value> {};
template <>
struct fib<0> : std::integral_constant<long, 0> {};
template <>
struct fib<1> : std::integral_constant<long, 1> {};

template <int I>
using payload = std::variant<int, double, std::string, record<I>, std::vector<record<I>>>;

template <int I>
struct visit_size {
  std::size_t operator()(int) const { return 1; }
  std::size_t operator()(double) const { return 2; }
  std::size_t operator()(const std::string &s) const { return s.size(); }
  std::size_t operator()(const record<I> &r) const { return r.name.size() + r.extra.size(); }
  std::size_t operator()(const std::vector<record<I>> &v) const { return v.size(); }
};

template <int I>
long exercise(int n) {
  std::vector<record<I>> v(static_cast<std::size_t>(n));
  for (int k = 0; k < n; k++)
    v[static_cast<std::size_t>(k)].key = (k * 7919 + I) % 1009;
  std::sort(v.begin(), v.end());
  std::stable_sort(v.begin(), v.end(), [](const auto &a, const auto &b) { return a.weight < b.weight; });

  std::map<record<I>, std::vector<std::string>> by_record;
  std::unordered_map<record<I>, std::optional<double>, hasher<I>> cache;
  for (const auto &r : v) {
    by_record[r].push_back(r.name);
    cache.emplace(r, r.key % 2 ? std::optional<double>(r.weight) : std::nullopt);
  }

  std::vector<payload<I>> items;
  items.emplace_back(I);
  items.emplace_back(I * 1.5);
  items.emplace_back(std::string(static_cast<std::size_t>(I % 13), 'x'));
  items.emplace_back(record<I>{});
  items.emplace_back(v);
  std::size_t total = 0;
  for (const auto &p : items)
    total += std::visit(visit_size<I>{}, p);

  std::function<long(long)> step = [&](long x) { return x * 3 + static_cast<long>(total); };
  auto t = std::make_tuple(record<I>{}, std::to_string(I), step, fib<(I % 20) + 2>::value);
  auto u = std::tuple_cat(t, std::make_tuple(by_record.size(), cache.size()));
  return std::get<1>(u).size() + std::get<2>(u)(std::get<3>(u)) +
         static_cast<long>(std::get<4>(u) + std::get<5>(u)) +
         std::accumulate(v.begin(), v.end(), 0L, [](long a, const auto &r) { return a + r.key; });
}

template <int... Is>
long run_all(std::integer_sequence<int, Is...>, int n) {
  return (exercise<Is>(n) + ... + 0L);
}

}  // namespace bench

long bench_templates_entry(int n);
long bench_templates_entry(int n) {
  return bench::run_all(std::make_integer_sequence<int, BENCH_N>{}, n);
}
