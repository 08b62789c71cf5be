/* The stub: the only program the host kernel ever executes for the sandbox.
 *
 * Every workload process image starts as this stub (first start and every
 * execve): the host exec gives the task a fresh address space, and the sentry
 * replaces the image at the PTRACE_EVENT_EXEC stop, before any instruction
 * here runs.  The sentry uses the gadget (syscall; int3) to inject host
 * syscalls into a stopped task: set rip = _start + 2, rax = number, run to
 * the int3.  Linked at a fixed high address (see setup.py) so that it stays
 * out of the way of the images the loader maps.
 */
    .text
    .globl _start
_start:
    ud2                 /* never runs: the sentry sets rip before resuming */
    .globl rt_gadget
rt_gadget:
    syscall
    int3
    ud2
