/* A power cut for tests, without root: what a disk holds after a power cut is what was fsynced.

   Preloaded into a process (LD_PRELOAD), it copies, at every fsync() or fdatasync():
   - a regular file's whole content to $POWERCUT_SHADOW/ino-<inode> (what the disk holds of it);
   - a folder's entries (name and inode of each regular file) to $POWERCUT_SHADOW/dir-<inode>
     (which names survive).
   Each copy is written to a temporary file and renamed, so a SIGKILL never leaves half a copy.
   tests/utils/powercut.py rebuilds the folder "after the power cut" from these copies alone: the
   page cache is lost, the files hold what their last fsync saw, and only the names of the folder's
   last fsync exist. Stricter than ext4 (which may keep more), never kinder. */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int (*real_fsync)(int);
static int (*real_fdatasync)(int);

static void publish(const char *dir, const char *name, int (*fill)(int out, int fd), int fd) {
    char tmp[PATH_MAX], final[PATH_MAX];
    snprintf(final, sizeof final, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s/.%s.%d.tmp", dir, name, (int)getpid());
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) return;
    int ok = fill(out, fd) == 0;
    close(out);
    if (ok) rename(tmp, final); else unlink(tmp);
}

static int copy_file(int out, int wfd) {
    /* The caller's descriptor may be write-only: read the same file through another one. */
    char self[64], buf[65536];
    snprintf(self, sizeof self, "/proc/self/fd/%d", wfd);
    int fd = open(self, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    off_t off = 0;
    for (;;) {
        ssize_t n = pread(fd, buf, sizeof buf, off);
        if (n < 0) { if (errno == EINTR) continue; close(fd); return -1; }
        if (n == 0) { close(fd); return 0; }
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(out, buf + done, (size_t)(n - done));
            if (w < 0) { if (errno == EINTR) continue; close(fd); return -1; }
            done += w;
        }
        off += n;
    }
}

static int list_dir(int out, int fd) {
    int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return -1;
    DIR *d = fdopendir(dfd);
    if (!d) { close(dfd); return -1; }
    FILE *f = fdopen(dup(out), "w");
    if (!f) { closedir(d); return -1; }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            fprintf(f, "%llu\t%s\n", (unsigned long long)st.st_ino, e->d_name);
    }
    int rc = fclose(f);
    closedir(d);
    return rc == 0 ? 0 : -1;
}

static void snapshot(int fd) {
    const char *shadow = getenv("POWERCUT_SHADOW");
    struct stat st;
    if (!shadow || fstat(fd, &st) != 0) return;
    int saved = errno;
    char name[64];
    if (S_ISREG(st.st_mode)) {
        snprintf(name, sizeof name, "ino-%llu", (unsigned long long)st.st_ino);
        publish(shadow, name, copy_file, fd);
    } else if (S_ISDIR(st.st_mode)) {
        snprintf(name, sizeof name, "dir-%llu", (unsigned long long)st.st_ino);
        publish(shadow, name, list_dir, fd);
    }
    errno = saved;
}

int fsync(int fd) {
    if (!real_fsync) real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    snapshot(fd);
    return real_fsync(fd);
}

int fdatasync(int fd) {
    if (!real_fdatasync) real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    snapshot(fd);
    return real_fdatasync(fd);
}
