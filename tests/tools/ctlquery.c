/*
 * vgpu-ctlquery: send one command line to a vgpu-mediator control socket
 * and print the answer, as a person would with socat (which the tests do
 * not need then). For the tests of the control socket's commands.
 *
 *   vgpu-ctlquery SOCKET COMMAND
 *
 * Exit status: 0 an answer was printed, 1 no answer, 2 bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vgpu/ctl.h"

#define CTLQ_TIMEOUT_MS 5000
#define CTLQ_LINE_MAX   256

int
main(int argc, char **argv)
{
    char line[CTLQ_LINE_MAX];
    char *answer = NULL;
    int rc;

    if (argc != 3) {
        fprintf(stderr, "usage: vgpu-ctlquery SOCKET COMMAND\n");
        return 2;
    }
    if ((size_t)snprintf(line, sizeof(line), "%s\n", argv[2]) >= sizeof(line)) {
        fprintf(stderr, "vgpu-ctlquery: the command is too long\n");
        return 2;
    }
    rc = vgpu_ctl_query(argv[1], line, CTLQ_TIMEOUT_MS, VGPU_CTL_ANSWER_MAX,
                        &answer);
    if (rc < 0) {
        fprintf(stderr, "vgpu-ctlquery: %s: %s\n", argv[1], strerror(-rc));
        return 1;
    }
    fputs(answer, stdout);
    free(answer);
    return 0;
}
