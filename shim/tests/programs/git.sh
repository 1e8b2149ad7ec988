# git: init, commits, branches, log, gc, fsck in a fresh repository.
set -e
export GIT_AUTHOR_NAME=Zone GIT_AUTHOR_EMAIL=zone@example.invalid
export GIT_COMMITTER_NAME=Zone GIT_COMMITTER_EMAIL=zone@example.invalid
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
git init -q -b main repo
cd repo
for i in $(seq 1 30); do
  export GIT_AUTHOR_DATE="2024-01-01T00:00:$(printf %02d $((i % 60)))Z" GIT_COMMITTER_DATE="2024-01-01T00:00:$(printf %02d $((i % 60)))Z"
  seq 1 $((i * 100)) | sed "s/^/line $i /" >"file$((i % 7)).txt"
  git add -A
  git commit -q -m "commit $i"
  if [ $((i % 10)) -eq 0 ]; then git branch "b$i"; fi
done
git log --stat --format='%H %an %s' | head -n 60
git log --oneline b10..main | wc -l
git gc -q --aggressive
git fsck --full --strict 2>&1
git count-objects -v | grep -v size
git rev-parse HEAD
git diff b20 main --stat | tail -n 1
