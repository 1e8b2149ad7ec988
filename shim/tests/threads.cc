// threads.cc - C++ under the shim with threads: blocks made by one thread and
// freed by another (through a shared queue), over-aligned new and delete
// (alignas types and operator new with std::align_val_t), containers and
// shared_ptr crossing threads. Every block carries a pattern naming its
// maker, checked by whoever frees it, so a block handed out twice or moved
// under a thread shows up as a wrong pattern.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

struct alignas(64) Line {
  std::uint64_t tag;
  char bytes[100];
};
struct alignas(4096) Page {
  std::uint64_t tag;
  char bytes[5000];
};

enum class Kind { bytes, line, page, raw_aligned, text };

struct Item {
  Kind kind;
  void *ptr;
  std::size_t size;    // bytes or text length
  std::size_t align;   // raw_aligned
  std::uint64_t tag;   // maker and sequence
  unsigned maker;
};

std::mutex queue_lock;
std::deque<Item> queue;
std::atomic<long> made{0}, freed{0}, crossed{0}, bad{0};

void fill(void *p, std::size_t n, std::uint64_t tag) {
  auto *b = static_cast<unsigned char *>(p);
  for (std::size_t i = 0; i < n; i++)
    b[i] = static_cast<unsigned char>(tag * 31 + i);
}

bool check(const void *p, std::size_t n, std::uint64_t tag) {
  auto *b = static_cast<const unsigned char *>(p);
  for (std::size_t i = 0; i < n; i++)
    if (b[i] != static_cast<unsigned char>(tag * 31 + i))
      return false;
  return true;
}

bool aligned(const void *p, std::size_t a) { return (reinterpret_cast<std::uintptr_t>(p) & (a - 1)) == 0; }

Item make(unsigned who, std::uint64_t seq, std::mt19937 &rng) {
  Item it{};
  it.maker = who;
  it.tag = (static_cast<std::uint64_t>(who) << 40) | seq;
  switch (rng() % 5) {
  case 0: {
    it.kind = Kind::bytes;
    it.size = rng() % 3000;
    it.ptr = new char[it.size + 1];
    fill(it.ptr, it.size, it.tag);
    break;
  }
  case 1: {
    it.kind = Kind::line;
    Line *l = new Line;
    if (!aligned(l, 64))
      bad++;
    l->tag = it.tag;
    fill(l->bytes, sizeof l->bytes, it.tag);
    it.ptr = l;
    break;
  }
  case 2: {
    it.kind = Kind::page;
    Page *pg = new Page;
    if (!aligned(pg, 4096))
      bad++;
    pg->tag = it.tag;
    fill(pg->bytes, sizeof pg->bytes, it.tag);
    it.ptr = pg;
    break;
  }
  case 3: {
    it.kind = Kind::raw_aligned;
    it.align = std::size_t{32} << (rng() % 8);  // 32 .. 4096
    it.size = 1 + rng() % 2000;
    it.ptr = ::operator new(it.size, std::align_val_t(it.align));
    if (!aligned(it.ptr, it.align))
      bad++;
    fill(it.ptr, it.size, it.tag);
    break;
  }
  default: {
    it.kind = Kind::text;
    auto *s = new std::string;
    for (unsigned k = rng() % 50; k > 0; k--)
      *s += std::to_string(it.tag + k);
    it.size = s->size();
    it.ptr = s;
    break;
  }
  }
  made++;
  return it;
}

void destroy(const Item &it, unsigned who) {
  bool ok = true;
  switch (it.kind) {
  case Kind::bytes:
    ok = check(it.ptr, it.size, it.tag);
    delete[] static_cast<char *>(it.ptr);
    break;
  case Kind::line: {
    Line *l = static_cast<Line *>(it.ptr);
    ok = l->tag == it.tag && check(l->bytes, sizeof l->bytes, it.tag);
    delete l;
    break;
  }
  case Kind::page: {
    Page *pg = static_cast<Page *>(it.ptr);
    ok = pg->tag == it.tag && check(pg->bytes, sizeof pg->bytes, it.tag);
    delete pg;
    break;
  }
  case Kind::raw_aligned:
    ok = check(it.ptr, it.size, it.tag);
    ::operator delete(it.ptr, it.size, std::align_val_t(it.align));
    break;
  case Kind::text: {
    auto *s = static_cast<std::string *>(it.ptr);
    ok = s->size() == it.size;
    delete s;
    break;
  }
  }
  if (!ok)
    bad++;
  if (who != it.maker)
    crossed++;
  freed++;
}

void worker(unsigned who, int rounds) {
  std::mt19937 rng(who * 7919 + 1);
  std::map<int, std::string> local;  // a container that lives and dies on this thread
  std::vector<std::shared_ptr<std::vector<int>>> shared;
  for (int r = 0; r < rounds; r++) {
    if (rng() % 2 == 0) {
      Item it = make(who, static_cast<std::uint64_t>(r), rng);
      std::lock_guard<std::mutex> g(queue_lock);
      queue.push_back(it);
    } else {
      Item it{};
      bool have = false;
      {
        std::lock_guard<std::mutex> g(queue_lock);
        if (!queue.empty()) {
          // Take from the front: mostly another thread's block.
          it = queue.front();
          queue.pop_front();
          have = true;
        }
      }
      if (have)
        destroy(it, who);
    }
    local[static_cast<int>(rng() % 500)] = std::string(rng() % 40, 'x');
    if (r % 97 == 0)
      local.clear();
    if (r % 13 == 0)
      shared.push_back(std::make_shared<std::vector<int>>(rng() % 100, static_cast<int>(who)));
    if (shared.size() > 20)
      shared.erase(shared.begin(), shared.begin() + 10);
  }
}

}  // namespace

int main(int argc, char **argv) {
  unsigned nthreads = argc > 1 ? static_cast<unsigned>(std::atoi(argv[1])) : 4;
  int rounds = argc > 2 ? std::atoi(argv[2]) : 100000;
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < nthreads; t++)
    threads.emplace_back(worker, t + 1, rounds);
  for (auto &t : threads)
    t.join();
  for (const Item &it : queue)
    destroy(it, 0);
  queue.clear();
  std::printf("made %ld freed %ld crossed %ld bad %ld\n", made.load(), freed.load(), crossed.load(),
              bad.load());
  if (bad != 0 || made != freed || crossed == 0) {
    std::fprintf(stderr, "threads: %ld bad blocks, %ld made, %ld freed, %ld freed by another thread\n",
                 bad.load(), made.load(), freed.load(), crossed.load());
    return 1;
  }
  return 0;
}
