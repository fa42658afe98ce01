// Where capabilities meet, wired by the host: they never import each other, each says in its own ports what it
// needs from the other.
//
// Office-hours power and capacity windows share resources (an ECS service or an Aurora cluster can have both a
// schedule and windows): a capacity window keeps a resource on that office hours would stop, stopping waits for
// the window's scale-in, and a window on a resource that is off has power turn it on first.
import type { CapacityCapability } from '../capabilities/capacity/capability.ts';
import type { PowerCapability } from '../capabilities/power/capability.ts';

export function linkPowerAndCapacity(power: PowerCapability, capacity: CapacityCapability): void {
  power.connectCapacity({
    holds: (resources, from, to) => capacity.store.holdsOn(resources, from, to),
    busy: (resources, at) => capacity.store.busyResources(resources, at),
  });
  capacity.converger.power = power.service.gate;
}
