#define _GNU_SOURCE
#include "util/fileio.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int file_read_all(const char *path, char **data, size_t *len, Err *err) {
    *data = NULL;
    if (len) *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(err, "%s: cannot open: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return err_set(err, "%s: cannot seek: %s", path, strerror(errno));
    }
    long size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return err_set(err, "%s: cannot determine size: %s", path, strerror(errno));
    }
    char *buf = err_malloc(err, (size_t)size + 1, path);
    if (!buf) {
        fclose(f);
        return -1;
    }
    if (size > 0 && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        fclose(f);
        return err_set(err, "%s: short read", path);
    }
    fclose(f);
    buf[size] = '\0';
    *data = buf;
    if (len) *len = (size_t)size;
    return 0;
}

bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
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
    return 0;
}
