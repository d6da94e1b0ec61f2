/*
 * vgpu-admin status and top (docs/admin-guide.md, "A live view"): each
 * VM's figures from the mediator's control socket ("live", vgpu/ctl.h),
 * once or refreshing like top(1).
 */
#ifndef VGPU_ADMIN_TOP_H
#define VGPU_ADMIN_TOP_H

/**
 * vgpu_admin_top_main() - run "status" or "top": @argv[0] is the command,
 * the rest its options (--socket, --control, --registry, --interval,
 * --help).
 * Return: the exit status: 0; 1 when the mediator cannot be reached or
 * goes away; 2 for a bad option.
 */
int vgpu_admin_top_main(int argc, char **argv);

/**
 * admin_fail() - print "vgpu-admin: " and the message on stderr, with a
 * newline (vgpu_admin.c; every vgpu-admin command's one-line error).
 * Return: @status, the exit status to return.
 */
int admin_fail(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* VGPU_ADMIN_TOP_H */
