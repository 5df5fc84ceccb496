/*
 * libvirt.h: the libvirt agent driver (kind "libvirt"): a host reached through a libvirt connection
 * uri (qemu:///system, qemu+ssh://host/system, test:///default, ...). Its behaviour is described in
 * libvirt.c; this header is what the registry needs of it.
 */
#ifndef WAPD_AGENT_LIBVIRT_H
#define WAPD_AGENT_LIBVIRT_H

#include "../agent.h"

/* The driver table (static, never changes). */
extern const agent_driver_t agent_libvirt_driver;

/* Registers the driver (agent_register of the table above). */
int agent_libvirt_register(void);

#endif
