/*
 * A bridge while vgpu_sim_main.c still includes "sched.h": the scheduler's
 * header is include/vgpu/scheduler.h since the mediator folder was split
 * (the old name hid the system's <sched.h>). A quoted include finds this
 * file beside its includer only, so <sched.h> is untouched. Remove it when
 * vgpu_sim_main.c includes "vgpu/scheduler.h".
 */
#ifndef VGPU_SIM_SCHED_H
#define VGPU_SIM_SCHED_H

#include "vgpu/scheduler.h"

#endif /* VGPU_SIM_SCHED_H */
