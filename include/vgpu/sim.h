/*
 * libvgpu-sim: N simulated VMs, each a vgpu-stub device model driven by
 * libvgpu-guest over the sim bus, in one process.
 *
 * The simulator uses the production code and no shortcut around it: the
 * devmodel, the frame codec (every request and response is encoded and
 * decoded as a frame), the mediator core with its scheduler, and the
 * backends. Only the transport differs by mode:
 *
 * - VGPU_SIM_DETERMINISTIC: one thread. A doorbell runs devmodel -> codec ->
 *   mediator core -> scheduler -> backend -> codec -> completion as one chain
 *   of calls, which gdb can step through (docs/debugging.md).
 * - VGPU_SIM_SOCKET: each VM opens its own connection to a real
 *   vgpu-mediator daemon at socket_path. Responses are read when the sim is
 *   pumped (vgpu_sim_poll()), which the sim bus does before it reads STATUS.
 * - VGPU_SIM_THREADED: the in-process core runs on its own dispatcher
 *   thread; each VM is meant to be driven by its own thread (vgpu-sim
 *   --threads does that), to expose races under TSan. Each VM's bus takes
 *   that VM's lock around every device access.
 *
 * Threading: in the deterministic and socket modes the simulator is not
 * thread-safe. In the threaded mode, each VM's client may be used by one
 * thread at a time, different VMs from different threads.
 */
#ifndef VGPU_SIM_H
#define VGPU_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "vgpu/common.h"
#include "vgpu/guest.h"
#include "vgpu/mediator.h"

#define VGPU_SIM_DETERMINISTIC 0
#define VGPU_SIM_SOCKET        1
#define VGPU_SIM_THREADED      2

#define VGPU_SIM_MAX_VMS 4096u

/* Each VM's guest memory, which its device reaches by DMA (the queue,
 * SPEC.md section 11): device addresses VGPU_SIM_GUEST_BASE up to
 * VGPU_SIM_GUEST_BASE + guest_mem_bytes. Above 4 GiB, so that the high
 * halves of the queue's addresses are exercised; below it, nothing. The
 * memory is reserved, not committed: a page costs only once touched. */
#define VGPU_SIM_GUEST_BASE     0x100000000ull
#define VGPU_SIM_GUEST_MEM_DEF  (256u << 20)
#define VGPU_SIM_GUEST_MEM_MAX  (4096ull << 20)
#define VGPU_SIM_DMA_FAULTS_MAX 8u

/* One simulated VM's identity. */
struct vgpu_sim_vm {
    uint32_t vm_id;
    uint8_t pool;     /* 'A'..'Z' */
    uint8_t priority; /* VGPU_PRIO_* */
};

struct vgpu_sim_config {
    int mode;                      /* VGPU_SIM_* */
    unsigned n_vms;                /* 1 .. VGPU_SIM_MAX_VMS */
    const struct vgpu_sim_vm *vms; /* n_vms entries */
    const char *socket_path;       /* socket mode: the daemon's socket */
    /* In-process modes: the mediator core's configuration (pools, policy,
     * backends). NULL: vgpu_mediator_config_default(). */
    const struct vgpu_mediator_config *mediator;
    /* In-process modes: a backend to use instead of the registry's, for
     * tests that need an op the real backends never produce (NULL: none). */
    const struct vgpu_backend_ops *backend_override;
    /* Deterministic mode: start with no mediator at all, so every doorbell
     * ends in MEDIATOR_UNAVAILABLE (the self-test's check). */
    int no_mediator;
    /* The device's timeout (SPEC.md section 6): socket mode ends a request
     * with no response after this long; 0 disables. */
    uint32_t timeout_ms;
    /* Guest memory per VM, in bytes (0: VGPU_SIM_GUEST_MEM_DEF; at most
     * VGPU_SIM_GUEST_MEM_MAX). */
    uint64_t guest_mem_bytes;
    /* 1: devices without the queue (CAPABILITIES bit 2 clear, no DMA), as
     * a device built before it. */
    int no_queue;
};

struct vgpu_sim;

/**
 * vgpu_sim_create() - build the devices, the transport and (in-process
 * modes) the mediator core, and connect every VM (HELLO/HELLO_ACK).
 * @err: a one-line reason on failure (a daemon that is not there, a
 *       refused HELLO, a bad configuration).
 * Return: the simulator, or NULL.
 */
VGPU_EXPORT struct vgpu_sim *vgpu_sim_create(const struct vgpu_sim_config *cfg,
                                             char *err, size_t err_len);

/** vgpu_sim_destroy() - disconnect, stop threads, free. NULL is fine. */
VGPU_EXPORT void vgpu_sim_destroy(struct vgpu_sim *sim);

/** vgpu_sim_client() - the guest client of VM @i (0-based); owned by sim. */
VGPU_EXPORT struct vgpu_client *vgpu_sim_client(struct vgpu_sim *sim,
                                                unsigned i);

/** vgpu_sim_dev() - the device model of VM @i; owned by sim. */
VGPU_EXPORT struct vgpu_dev *vgpu_sim_dev(struct vgpu_sim *sim, unsigned i);

/**
 * vgpu_sim_poll() - socket mode: read whatever responses have arrived, for
 * up to @timeout_ms, and complete the devices they answer. Other modes: 0.
 * Return: the number of completions, or a negative code.
 */
VGPU_EXPORT int vgpu_sim_poll(struct vgpu_sim *sim, int timeout_ms);

/**
 * vgpu_sim_disconnect() - drop VM @i's connection to the mediator (a lost
 * transport: a request in flight ends in MEDIATOR_UNAVAILABLE). The next
 * doorbell reconnects.
 */
VGPU_EXPORT void vgpu_sim_disconnect(struct vgpu_sim *sim, unsigned i);

/**
 * vgpu_sim_stats() - in-process modes: the mediator's per-VM counters, as
 * vgpu_mediator_stats(). Socket mode: 0 (ask the daemon's --stats).
 */
VGPU_EXPORT size_t vgpu_sim_stats(struct vgpu_sim *sim,
                                  void (*fn)(const struct vgpu_vm_stats *,
                                             void *),
                                  void *arg);

/**
 * vgpu_sim_dma_fault() - make DMA by VM @i's device to [@addr, @addr +
 * @len) fail, as an address outside guest memory would (up to
 * VGPU_SIM_DMA_FAULTS_MAX ranges). @len 0 clears every range.
 * Return: 0, -EINVAL, or -ENOSPC.
 */
VGPU_EXPORT int vgpu_sim_dma_fault(struct vgpu_sim *sim, unsigned i,
                                   uint64_t addr, uint64_t len);

/**
 * vgpu_sim_bus_master() - turn VM @i's bus mastering off (@on 0: every DMA
 * fails, as with the PCI command register's bit cleared) or on again.
 */
VGPU_EXPORT void vgpu_sim_bus_master(struct vgpu_sim *sim, unsigned i, int on);

/**
 * vgpu_sim_open_single() - the guest tools' --sim: one VM in deterministic
 * mode with the CPU backend, and its client. vgpu_close() on the client
 * destroys the simulator too.
 * @no_mediator: as in struct vgpu_sim_config.
 */
VGPU_EXPORT struct vgpu_client *
vgpu_sim_open_single(uint32_t vm_id, uint8_t pool, uint8_t priority,
                     int no_mediator, char *err, size_t err_len);

#endif /* VGPU_SIM_H */
