// lunar-guest: /init of Lunar's test guest. Loads the virtio and ACPI button modules, says
// "lunar-guest: ready" on the serial console, then keeps a journal on every data disk (vdb, vdc,
// ...; vda is the boot disk): numbered 4 KiB blocks written with O_DIRECT + fdatasync, one
// sequence per lane, and once a second the last acknowledged number of each lane. A disk that
// appears later gets a journal too; one that goes is reported. The power button powers off.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/input.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BLOCK 4096
#define MAX_DISKS 16
#define MAX_LANES 16

static int console = 2;
static pthread_mutex_t say_lock = PTHREAD_MUTEX_INITIALIZER;
static int lanes = 4;
static long blocks_per_lane = 256;
static uint64_t boot_id;

static void say(const char *format, ...) {
    char line[1024];
    va_list args;
    va_start(args, format);
    int n = vsnprintf(line, sizeof line - 1, format, args);
    va_end(args);
    if (n < 0) return;
    if (n > (int)sizeof line - 2) n = sizeof line - 2;
    line[n++] = '\n';
    pthread_mutex_lock(&say_lock);
    if (write(console, line, n) < 0) {}
    pthread_mutex_unlock(&say_lock);
}

struct disk {
    char name[16];
    int fd;
    int active;
    int gone;
    long per_lane;
    uint64_t acked;
    int64_t last[MAX_LANES];
    int error;
};

static struct disk disks[MAX_DISKS];
static pthread_mutex_t disks_lock = PTHREAD_MUTEX_INITIALIZER;

// A block: "LUNARJNL", lane, sequence, boot id, FNV-1a of those, then a pattern of the sequence.
struct header {
    char magic[8];
    uint32_t version, lane;
    uint64_t sequence, boot, check;
};

static uint64_t fnv(const void *data, size_t length) {
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < length; i++) { h ^= p[i]; h *= 1099511628211ULL; }
    return h;
}

static void encode(unsigned char *block, uint32_t lane, uint64_t sequence) {
    struct header h = {{'L', 'U', 'N', 'A', 'R', 'J', 'N', 'L'}, 1, lane, sequence, boot_id, 0};
    h.check = fnv(&h, offsetof(struct header, check));
    memset(block, 0, BLOCK);
    memcpy(block, &h, sizeof h);
    for (size_t i = sizeof h; i + 8 <= BLOCK; i += 8) memcpy(block + i, &sequence, 8);
}

static int decode(const unsigned char *block, uint32_t lane, uint64_t *sequence) {
    struct header h;
    memcpy(&h, block, sizeof h);
    if (memcmp(h.magic, "LUNARJNL", 8) != 0 || h.lane != lane) return 0;
    if (h.check != fnv(&h, offsetof(struct header, check))) return 0;
    *sequence = h.sequence;
    return 1;
}

struct lane_job { struct disk *disk; int lane; int64_t next; };

static void *lane_loop(void *argument) {
    struct lane_job *job = argument;
    struct disk *d = job->disk;
    unsigned char *block;
    if (posix_memalign((void **)&block, BLOCK, BLOCK) != 0) return NULL;
    uint64_t sequence = (uint64_t)job->next;
    while (!d->gone) {
        encode(block, (uint32_t)job->lane, sequence);
        off_t offset = ((off_t)job->lane * d->per_lane + (off_t)(sequence % (uint64_t)d->per_lane)) * BLOCK;
        if (pwrite(d->fd, block, BLOCK, offset) == BLOCK && fdatasync(d->fd) == 0) {
            __atomic_store_n(&d->last[job->lane], (int64_t)sequence, __ATOMIC_RELEASE);
            __atomic_add_fetch(&d->acked, 1, __ATOMIC_RELAXED);
            sequence++;
        } else {
            int e = errno;
            if (d->error != e) say("lunar-journal: %s write error: %s", d->name, strerror(e));
            d->error = e;
            usleep(200000);
        }
    }
    free(block);
    return NULL;
}

// Finds where each lane left off (a disk journaled before, on this host or another), then writes on.
static void *journal(void *argument) {
    struct disk *d = argument;
    char path[64];
    snprintf(path, sizeof path, "/dev/%s", d->name);
    for (int i = 0; i < 50 && (d->fd = open(path, O_RDWR | O_DIRECT)) < 0; i++) usleep(100000);
    if (d->fd < 0) { say("lunar-journal: %s cannot open: %s", d->name, strerror(errno)); return NULL; }
    uint64_t bytes = 0;
    if (ioctl(d->fd, BLKGETSIZE64, &bytes) != 0 || bytes < (uint64_t)BLOCK * lanes) { say("lunar-journal: %s too small", d->name); return NULL; }
    d->per_lane = (long)(bytes / BLOCK / (uint64_t)lanes);
    if (d->per_lane > blocks_per_lane) d->per_lane = blocks_per_lane;
    unsigned char *block;
    if (posix_memalign((void **)&block, BLOCK, BLOCK) != 0) return NULL;
    char resumed[256] = "";
    static struct lane_job jobs[MAX_DISKS][MAX_LANES];
    int index = (int)(d - disks);
    for (int lane = 0; lane < lanes; lane++) {
        int64_t highest = -1;
        for (long slot = 0; slot < d->per_lane; slot++) {
            uint64_t sequence;
            if (pread(d->fd, block, BLOCK, ((off_t)lane * d->per_lane + slot) * BLOCK) == BLOCK && decode(block, (uint32_t)lane, &sequence)
                && (int64_t)sequence > highest)
                highest = (int64_t)sequence;
        }
        d->last[lane] = highest;
        jobs[index][lane] = (struct lane_job){d, lane, highest + 1};
        snprintf(resumed + strlen(resumed), sizeof resumed - strlen(resumed), "%s%lld", lane ? "," : "", (long long)highest);
    }
    free(block);
    say("lunar-journal: %s start lanes=%d blocks=%ld found=%s", d->name, lanes, d->per_lane, resumed);
    d->active = 1;
    for (int lane = 0; lane < lanes; lane++) {
        pthread_t thread;
        pthread_create(&thread, NULL, lane_loop, &jobs[index][lane]);
        pthread_detach(thread);
    }
    return NULL;
}

static void *power_button(void *unused) {
    (void)unused;
    for (;;) {
        for (int i = 0; i < 8; i++) {
            char path[32];
            snprintf(path, sizeof path, "/dev/input/event%d", i);
            int fd = open(path, O_RDONLY);
            if (fd < 0) continue;
            char name[64] = "";
            ioctl(fd, EVIOCGNAME(sizeof name), name);
            if (strstr(name, "Power Button") == NULL) { close(fd); continue; }
            struct input_event event;
            while (read(fd, &event, sizeof event) == sizeof event) {
                if (event.type == EV_KEY && event.code == KEY_POWER && event.value == 1) {
                    say("lunar-guest: power button, powering off");
                    sync();
                    reboot(RB_POWER_OFF);
                }
            }
            close(fd);
        }
        sleep(1);
    }
    return NULL;
}

static void load_modules(void) {
    FILE *order = fopen("/lib/modules/order", "r");
    char name[64];
    while (order && fscanf(order, "%63s", name) == 1) {
        char path[128];
        snprintf(path, sizeof path, "/lib/modules/%s.ko", name);
        int fd = open(path, O_RDONLY);
        if (fd < 0 || syscall(SYS_finit_module, fd, "", 0) != 0) say("lunar-guest: module %s: %s", name, strerror(errno));
        if (fd >= 0) close(fd);
    }
    if (order) fclose(order);
}

static void scan_disks(void) {
    int present[MAX_DISKS] = {0};
    DIR *dir = opendir("/sys/block");
    struct dirent *entry;
    while (dir && (entry = readdir(dir))) {
        if (strncmp(entry->d_name, "vd", 2) != 0 || strcmp(entry->d_name, "vda") == 0 || strlen(entry->d_name) > 8) continue;
        pthread_mutex_lock(&disks_lock);
        int found = -1, free_slot = -1;
        for (int i = 0; i < MAX_DISKS; i++) {
            if (disks[i].name[0] && !disks[i].gone && strcmp(disks[i].name, entry->d_name) == 0) found = i;
            if (!disks[i].name[0] && free_slot < 0) free_slot = i;
        }
        if (found < 0 && free_slot >= 0) {
            struct disk *d = &disks[free_slot];
            memset(d, 0, sizeof *d);
            snprintf(d->name, sizeof d->name, "%s", entry->d_name);
            d->fd = -1;
            found = free_slot;
            char path[96], size[32] = "?";
            snprintf(path, sizeof path, "/sys/block/%s/size", d->name);
            FILE *f = fopen(path, "r");
            if (f) { if (fscanf(f, "%31s", size) != 1) {} fclose(f); }
            say("lunar-guest: disk %s appeared sectors=%s", d->name, size);
            pthread_t thread;
            pthread_create(&thread, NULL, journal, d);
            pthread_detach(thread);
        }
        if (found >= 0) present[found] = 1;
        pthread_mutex_unlock(&disks_lock);
    }
    if (dir) closedir(dir);
    pthread_mutex_lock(&disks_lock);
    for (int i = 0; i < MAX_DISKS; i++) {
        if (disks[i].name[0] && !disks[i].gone && !present[i]) {
            disks[i].gone = 1;
            say("lunar-guest: disk %s gone", disks[i].name);
            // Its lanes see `gone` and stop; the slot is not reused, so they never race a newcomer.
        }
    }
    pthread_mutex_unlock(&disks_lock);
}

int main(void) {
    mount("proc", "/proc", "proc", 0, NULL);
    mount("sysfs", "/sys", "sysfs", 0, NULL);
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    int fd = open("/dev/ttyS0", O_WRONLY | O_NOCTTY);
    if (fd >= 0) console = fd;
    char cmdline[1024] = "";
    FILE *f = fopen("/proc/cmdline", "r");
    if (f) { if (!fgets(cmdline, sizeof cmdline, f)) cmdline[0] = 0; fclose(f); }
    for (char *word = strtok(cmdline, " \n"); word; word = strtok(NULL, " \n")) {
        if (strncmp(word, "lunar.lanes=", 12) == 0) lanes = atoi(word + 12);
        if (strncmp(word, "lunar.blocks=", 13) == 0) blocks_per_lane = atol(word + 13);
    }
    if (lanes < 1) lanes = 1;
    if (lanes > MAX_LANES) lanes = MAX_LANES;
    if (blocks_per_lane < 1) blocks_per_lane = 1;
    f = fopen("/proc/sys/kernel/random/boot_id", "r");
    char id[64] = "0";
    if (f) { if (!fgets(id, sizeof id, f)) id[0] = 0; fclose(f); }
    boot_id = strtoull(id, NULL, 16);
    load_modules();
    pthread_t thread;
    pthread_create(&thread, NULL, power_button, NULL);
    for (int i = 0; i < 50 && access("/sys/block/vda", F_OK) != 0; i++) usleep(100000);
    scan_disks();
    say("lunar-guest: ready boot=%s", strtok(id, "\n"));
    for (int tick = 0;; tick++) {
        usleep(200000);
        scan_disks();
        if (tick % 5 != 4) continue;
        pthread_mutex_lock(&disks_lock);
        for (int i = 0; i < MAX_DISKS; i++) {
            struct disk *d = &disks[i];
            if (!d->name[0] || d->gone || !d->active) continue;
            char last[256] = "";
            for (int lane = 0; lane < lanes; lane++)
                snprintf(last + strlen(last), sizeof last - strlen(last), "%s%lld", lane ? "," : "", (long long)__atomic_load_n(&d->last[lane], __ATOMIC_ACQUIRE));
            say("lunar-journal: %s acked=%llu last=%s", d->name, (unsigned long long)__atomic_load_n(&d->acked, __ATOMIC_RELAXED), last);
        }
        pthread_mutex_unlock(&disks_lock);
    }
}
