/*
 * The device's end of the wire protocol (SPEC.md section 7): one struct
 * vgpu_link per device, between its struct vgpu_dev and a connection to the
 * mediator. QEMU's vgpu-stub and every transport of libvgpu-sim run this same
 * code; they own only the socket (or the in-process core), the timers and
 * the log.
 *
 * Like devmodel, the link is pure: no I/O, no clock, no allocation, no
 * locks. It reaches the connection only through struct vgpu_link_ops, and
 * the caller serialises every call on one link (QEMU's big lock, the
 * simulator's VM lock).
 *
 * What it owns:
 *   - the handshake: HELLO when the caller says the connection is up,
 *     requests only after HELLO_ACK (one request waits for it);
 *   - the table of requests sent on the connection, mapping a wire
 *     request_id back to the device generation it was sent under, so that
 *     a late answer to a request the device abandoned (a timeout, a reset)
 *     is dropped as stale even when the guest reused its request id;
 *   - the streaming decoder, and what each frame from the mediator does:
 *     HELLO_ACK, RESPONSE -> vgpu_dev_complete() (a mailbox request) or
 *     vgpu_dev_q_complete() (a queue entry), ERROR, PING -> PONG, PONG;
 *   - the queue's side of the handshake: HELLO offers VGPU_CAP_QUEUE when
 *     the device reaches guest memory, and HELLO_ACK's in-flight count goes
 *     to the device (vgpu_dev_q_set_max_inflight()), which then takes the
 *     entries that waited for it (vgpu_dev_q_kick());
 *   - ending the request in flight when the connection ends, with the
 *     status and text SPEC.md section 7 gives.
 *
 * Every decision where the two former copies differed is written in
 * docs/protocol.md ("The device's end").
 */
#ifndef VGPU_LINK_H
#define VGPU_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "vgpu/common.h"
#include "vgpu/devmodel.h"
#include "vgpu/proto.h"
#include "vgpu/regs.h"

/* Requests sent on one connection whose answers are still recognised: the
 * one in flight plus those abandoned by a timeout or a reset. When the
 * table is full the oldest entry is forgotten; its answer, if it ever
 * comes, is matched by the device's own request-id check. */
#define VGPU_LINK_SENT_MAX  16u
/* Text kept of a reason (an ERROR frame's, a protocol error's). */
#define VGPU_LINK_MSG_MAX   160u
/* The largest frame the link sends: a header and a full request buffer. */
#define VGPU_LINK_FRAME_MAX (VGPU_HDR_SIZE + VGPU_BUF_SIZE)

enum vgpu_link_state {
    VGPU_LINK_DOWN,  /* no connection */
    VGPU_LINK_HELLO, /* HELLO sent, waiting for HELLO_ACK */
    VGPU_LINK_READY, /* requests flow */
};

/* The caller's side. @opaque is what vgpu_link_init() was given. */
struct vgpu_link_ops {
    /* Write or queue @len bytes for the mediator, in order: a whole frame,
     * or (a queue entry's REQUEST) its header, then its payload in a second
     * call. Return 0, or a negative errno value when it cannot (the
     * connection is broken, or its output is full): the link then drops the
     * connection as with lost(). Must not call back into the link. */
    int (*send)(void *opaque, const uint8_t *frame, size_t len);
    /* The link ends the connection (an ERROR frame, a protocol error, a
     * failed send): close it. @why is one line for the log. Called before
     * the request in flight is ended; must not call back into the link. */
    void (*lost)(void *opaque, const char *why);
    /* One log line at VGPU_LOG_* @level (no newline). May be NULL. */
    void (*log)(void *opaque, int level, const char *line);
};

/* Counters; never reset. */
struct vgpu_link_stats {
    uint64_t connects;      /* vgpu_link_up() calls */
    uint64_t requests_sent; /* REQUEST frames given to ops->send */
    uint64_t queued_sent;   /* of them, queue entries */
    uint64_t too_long;      /* queue entries over the mediator's payload limit,
                               ended in INVALID_LENGTH */
    uint64_t responses;     /* RESPONSE frames received */
    uint64_t stale;         /* of them, dropped by the device as stale */
    uint64_t pings;         /* PINGs received (each answered with PONG) */
    uint64_t errors;        /* ERROR frames received */
    uint64_t protocol_errors; /* connections dropped for a protocol error */
};

/* One device's link. The fields are private; it is a struct here only so
 * that an adapter can embed it without allocation. */
struct vgpu_link {
    struct vgpu_dev *dev;
    const struct vgpu_link_ops *ops;
    void *opaque;
    enum vgpu_link_state state;
    uint32_t peer_max_payload;  /* from HELLO_ACK; 0 before */
    uint32_t peer_max_inflight; /* from HELLO_ACK (1 for 8 bytes); 0 before */
    struct vgpu_decoder dec;
    uint8_t *rx; /* the decoder's payload buffer: rx_small, or the
                    adapter's (vgpu_link_set_rx()) */
    size_t rx_cap;
    uint8_t rx_small[VGPU_BUF_SIZE];
    struct {
        uint32_t request_id;
        uint32_t generation;
    } sent[VGPU_LINK_SENT_MAX];
    unsigned sent_count;                  /* oldest first */
    uint8_t pending[VGPU_LINK_FRAME_MAX]; /* a REQUEST waiting for HELLO_ACK */
    size_t pending_len;
    char reason[VGPU_LINK_MSG_MAX]; /* why the last connection ended */
    struct vgpu_link_stats stats;
};

/**
 * vgpu_link_init() - prepare @link for @dev, whose identity (vm_id, pool,
 * priority) every frame carries. State DOWN. @ops->send and @ops->lost must
 * be set.
 * Return: 0, or -EINVAL.
 */
VGPU_EXPORT int vgpu_link_init(struct vgpu_link *link, struct vgpu_dev *dev,
                               const struct vgpu_link_ops *ops, void *opaque);

/**
 * vgpu_link_set_rx() - give the decoder a payload buffer of @cap bytes
 * (the adapter's; it must outlive the link), so that RESPONSE payloads up to
 * @cap are read whole: a device with the queue passes VGPU_Q_MAX_XFER. The
 * default is VGPU_BUF_SIZE bytes inside the link; larger payloads are read
 * and discarded and end their request in RESPONSE_TOO_LARGE. Call while
 * DOWN. Return: 0, or -EINVAL.
 */
VGPU_EXPORT int vgpu_link_set_rx(struct vgpu_link *link, uint8_t *buf,
                                 size_t cap);

/**
 * vgpu_link_up() - the caller's connection is established: send HELLO and
 * wait for HELLO_ACK (state HELLO). A request kept by vgpu_link_request()
 * while DOWN is sent at HELLO_ACK.
 * Return: 0, or -1 when HELLO could not be sent (the link has dropped the
 * connection: ops->lost was called and the request in flight ended).
 */
VGPU_EXPORT int vgpu_link_up(struct vgpu_link *link);

/**
 * vgpu_link_request() - carry the device's request (ops->submit's @req).
 *
 * A mailbox request: remember its generation under its request id, and
 * send its REQUEST frame now when READY, or keep it until HELLO_ACK when
 * DOWN or HELLO (the caller connects and calls vgpu_link_up() when DOWN).
 * If the send fails, the connection is dropped (ops->lost) but the request
 * is kept for the next vgpu_link_up(). Return: 0, or -EINVAL for over
 * VGPU_BUF_SIZE bytes.
 *
 * A queue entry (@req->queued): sent now when READY, as one frame when its
 * payload is at most 1 KiB, else as the header and then the payload. Return: 0;
 * -EAGAIN when not READY (the device keeps the entry in its ring until
 * vgpu_dev_q_kick(), which the link calls at HELLO_ACK; the caller connects
 * when DOWN); VGPU_ERR_MEDIATOR_UNAVAILABLE (positive) when the send failed and
 * the link dropped the connection; VGPU_ERR_INVALID_LENGTH for more bytes than
 * the mediator's HELLO_ACK accepts (a mediator from before the queue takes 1
 * KiB); -EINVAL for over VGPU_Q_MAX_XFER bytes. The adapter returns it to the
 * device as is.
 */
VGPU_EXPORT int vgpu_link_request(struct vgpu_link *link,
                                  const struct vgpu_request *req);

/**
 * vgpu_link_input() - bytes the mediator sent, in any split: each whole
 * frame takes effect in order.
 * Return: 0; or -1 when the input ended the connection (an ERROR frame, a
 * frame SPEC.md section 7 refuses, a failed PONG): ops->lost was called,
 * the request in flight has ended and the rest of @data was ignored.
 */
VGPU_EXPORT int vgpu_link_input(struct vgpu_link *link, const uint8_t *data,
                                size_t len);

/**
 * vgpu_link_down() - the caller's connection ended (EOF, a read or connect
 * error, a handshake timeout, a disconnect it chose): forget the connection
 * (decoder, sent table, a request waiting for HELLO_ACK) and end the request
 * in flight with @status and @text (a message for the guest, or NULL).
 * MEDIATOR_UNAVAILABLE without text is vgpu_dev_transport_lost(). Does not
 * call ops->lost. @why goes to the reason (vgpu_link_reason()) when not NULL.
 */
VGPU_EXPORT void vgpu_link_down(struct vgpu_link *link, uint32_t status,
                                const char *why, const char *text);

/**
 * vgpu_link_timeout() - the caller's timer for the request in flight fired:
 * a request still waiting for HELLO_ACK is never sent, and the device ends
 * the request in ERROR TIMEOUT. Its late answer, if any, is stale.
 * Return: 1 when a request was timed out, 0 when the device was not BUSY.
 */
VGPU_EXPORT int vgpu_link_timeout(struct vgpu_link *link);

/**
 * vgpu_link_reset() - the device was reset: forget the connection state
 * without touching the device (the caller closes its connection, so that
 * no answer from before the reset can match a request made after it).
 */
VGPU_EXPORT void vgpu_link_reset(struct vgpu_link *link);

/** vgpu_link_state() - DOWN, HELLO or READY. */
VGPU_EXPORT enum vgpu_link_state vgpu_link_state(const struct vgpu_link *link);

/** vgpu_link_reason() - why the last connection ended ("" if none did). */
VGPU_EXPORT const char *vgpu_link_reason(const struct vgpu_link *link);

/** vgpu_link_get_stats() - copy the counters. */
VGPU_EXPORT void vgpu_link_get_stats(const struct vgpu_link *link,
                                     struct vgpu_link_stats *out);

#endif /* VGPU_LINK_H */
