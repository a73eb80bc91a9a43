#define _GNU_SOURCE
#include "util/fileio.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// What a path is when it is not a regular file, for messages.
static const char *file_kind(mode_t mode) {
    return S_ISDIR(mode)    ? "a directory"
           : S_ISFIFO(mode) ? "a FIFO"
           : S_ISCHR(mode)  ? "a character device"
           : S_ISBLK(mode)  ? "a block device"
           : S_ISSOCK(mode) ? "a socket"
                            : "not a regular file";
}

int file_open_regular(const char *path, Err *err) {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return err_set(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return err_set(err, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(err, "%s: is %s, expected a regular file", path, file_kind(st.st_mode));
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        return err_set(err, "%s: cannot set blocking mode: %s", path, strerror(e));
    }
    return fd;
}

int file_read_all(const char *path, char **data, size_t *len, Err *err) {
    *data = NULL;
    if (len) *len = 0;
    int fd = file_open_regular(path, err);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return err_set(err, "%s: cannot stat: %s", path, strerror(e));
    }
    size_t size = (size_t)st.st_size;
    char *buf = err_malloc(err, size + 1, path);
    if (!buf) {
        close(fd);
        return -1;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int e = errno;
            free(buf);
            close(fd);
            if (r == 0) return err_set(err, "%s: short read (the file shrank while being read)", path);
            return err_set(err, "%s: read failed: %s", path, strerror(e));
        }
        got += (size_t)r;
    }
    close(fd);
    buf[size] = '\0';
    *data = buf;
    if (len) *len = size;
    return 0;
}

bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool path_exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

bool dir_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int path_join(char *out, size_t cap, const char *a, const char *b, Err *err) {
    int n = snprintf(out, cap, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= cap) return err_set(err, "%s/%s: path too long", a, b);
    return 0;
}

int file_write_atomic(const char *path, const void *data, size_t len, Err *err) {
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof tmp) return err_set(err, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return err_set(err, "%s: cannot create: %s", tmp, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            return err_set(err, "%s: write failed: %s", tmp, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return err_set(err, "%s: cannot flush: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return err_set(err, "%s: cannot rename into place: %s", path, strerror(e));
    }
    return 0;
}

int dir_make(const char *path, Err *err) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return err_set(err, "%s: bad directory path", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char saved = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return err_set(err, "%s: cannot create directory: %s", buf, strerror(errno));
            if (!dir_exists(buf)) return err_set(err, "%s: exists and is not a directory", buf);
            buf[i] = saved;
        }
    }
    return 0;
}

int dir_remove_tree(const char *path, Err *err) {
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) return 0;
        return err_set(err, "%s: cannot stat: %s", path, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) != 0) return err_set(err, "%s: cannot remove: %s", path, strerror(errno));
        return 0;
    }
    DIR *d = opendir(path);
    if (!d) return err_set(err, "%s: cannot open directory: %s", path, strerror(errno));
    struct dirent *ent;
    int rc = 0;
    while (rc == 0 && (ent = readdir(d)) != NULL) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0) continue;
        char child[4096];
        rc = path_join(child, sizeof child, path, ent->d_name, err);
        if (rc == 0) rc = dir_remove_tree(child, err);
    }
    closedir(d);
    if (rc != 0) return rc;
    if (rmdir(path) != 0) return err_set(err, "%s: cannot remove directory: %s", path, strerror(errno));
    return 0;
}

int dir_replace(const char *src, const char *dst, Err *err) {
    if (!dir_exists(dst)) {
        if (rename(src, dst) != 0)
            return err_set(err, "%s: cannot rename to %s: %s", src, dst, strerror(errno));
        return 0;
    }
    // RENAME_EXCHANGE swaps both names in one step, so a reader (or a crash)
    // always sees a complete old or a complete new directory at `dst`.
    if (renameat2(AT_FDCWD, src, AT_FDCWD, dst, RENAME_EXCHANGE) != 0)
        return err_set(err, "%s: cannot swap with %s: %s", src, dst, strerror(errno));
    return dir_remove_tree(src, err);
}

int file_copy(const char *src, const char *dst, Err *err) {
    char *data;
    size_t len;
    if (file_read_all(src, &data, &len, err) != 0) return -1;
    int rc = file_write_atomic(dst, data, len, err);
    free(data);
    return rc;
}

void file_size_limit_as_error(void) {
    // Under a file-size limit (ulimit -f) the kernel sends SIGXFSZ, which
    // kills the process without a word; ignored, the write fails with EFBIG
    // and is reported (and its temporary file removed) like any write error.
    signal(SIGXFSZ, SIG_IGN);
}

int file_fingerprint(const char *path, size_t *size, uint64_t *hash, Err *err) {
    char *data;
    if (file_read_all(path, &data, size, err) != 0) return -1;
    uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a, 64 bits
    for (size_t i = 0; i < *size; i++) h = (h ^ (unsigned char)data[i]) * 0x100000001b3ULL;
    free(data);
    *hash = h;
    return 0;
}

int json_read_optional(const char *dir, const char *name, cJSON **out, Err *err) {
    char path[4096];
    *out = NULL;
    if (path_join(path, sizeof path, dir, name, err) != 0) return -1;
    if (!file_exists(path)) return 0;
    char *data;
    size_t len;
    if (file_read_all(path, &data, &len, err) != 0) return -1;
    *out = cJSON_ParseWithLength(data, len);
    free(data);
    if (!*out) return err_set(err, "%s: not valid JSON", path);
    // Every Hugging Face file read this way is an object; readers take its
    // entries' keys (NULL in an array) as names (an array crashed the
    // tokenizer loader: found by fuzz/vocab).
    if (!cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        return err_set(err, "%s: expected a JSON object", path);
    }
    return 0;
}
