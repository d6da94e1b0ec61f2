/*
 * What the parts of the daemon's configuration share (internal to
 * src/daemon): the settings' keys and the one setter per key (config.c)
 * that the INI file (config_file.c) and the command line (config_cli.c)
 * both call. Not thread-safe, like config.h.
 */
#ifndef VGPU_DAEMON_CONFIG_INTERNAL_H
#define VGPU_DAEMON_CONFIG_INTERNAL_H

#include <stddef.h>

#include "config.h"

/* The settings, each with its INI key (NULL: command line only). */
enum config_key {
    KEY_SOCKET,
    KEY_CONTROL,
    KEY_POLICY,
    KEY_WEIGHTS,
    KEY_WEIGHT_HIGH,
    KEY_WEIGHT_MEDIUM,
    KEY_WEIGHT_LOW,
    KEY_MAX_WAIT_MS,
    KEY_VM_QUEUE_CAP,
    KEY_QUEUE_INFLIGHT,
    KEY_REQUEST_MEMORY_MIB,
    KEY_POOL,
    KEY_DEFAULT_BACKEND,
    KEY_OUTPUT_KIB,
    KEY_HELLO_TIMEOUT_MS,
    KEY_MAX_CONNECTIONS,
    KEY_LOG_LEVEL,
    KEY_LOG_FILE,
    KEY_LEGACY_DIR,
    KEY_REGISTRY,
    KEY_CUDA_FALLBACK,
    KEY_CPU_WORKERS,
    KEY_METRICS_LISTEN, /* INI only: metrics_listen */
    KEY_VM_SHARE,
    KEY_COUNT
};

/* Free *@slot and store @value (owned by @cfg from now on) there. */
void vgpu_config_replace(char **slot, char *value);

/**
 * vgpu_config_pool_index() - the index 0..VGPU_POOL_COUNT-1 of the pool
 * letter @letter (@len bytes).
 * Return: 0, or -EINVAL when it is not one letter VGPU_POOL_FIRST..LAST.
 */
int vgpu_config_pool_index(const char *letter, size_t len, size_t *index);

/**
 * vgpu_config_parse_backend() - check "<name>[:<spec>]" against the
 * backends this build has and store a copy in *@out.
 * Return: 0, -EINVAL with the reason in @why, or -ENOMEM.
 */
int vgpu_config_parse_backend(const char *value, char **out, char *why,
                              size_t why_len);

/**
 * vgpu_config_set_key() - check @value and set the setting @key of @cfg.
 * Return: 0, -EINVAL with the reason in @why ("'x' is not ..."), or
 * -ENOMEM.
 */
int vgpu_config_set_key(struct vgpu_daemon_config *cfg, enum config_key key,
                        const char *value, char *why, size_t why_len);

#endif /* VGPU_DAEMON_CONFIG_INTERNAL_H */
