// What an actor lets other threads call. comlink's expose() publishes
// whatever object it is given, every method of it; so an actor is never
// exposed itself, only its face: a frozen object holding just the methods
// its API names, each bound to the actor. A session worker holding the
// Store's port can append and ask for a welcome; it cannot close the Store.
// Runs on the thread that owns the actor.

export function actorFace<Actor extends object, Method extends keyof Actor>(actor: Actor, methods: readonly Method[]): Pick<Actor, Method> {
  const face = {} as Pick<Actor, Method>;
  for (const name of methods) {
    const method = actor[name];
    if (typeof method !== 'function') throw new TypeError(`${String(name)} is not a method of the actor`);
    face[name] = method.bind(actor);
  }
  return Object.freeze(face);
}
