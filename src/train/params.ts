import { noGrad, scope, weightsChanged, type Tensor } from '../tensor/index.js';

/** Copies saved tensors into live parameters of the same names (every name must be saved, same shapes). */
export function copyNamed(params: [string, Tensor][], state: Map<string, Tensor>): void {
  // the scope frees the handles copy_ returns
  scope(() =>
    noGrad(() => {
      for (const [name, p] of params) {
        const src = state.get(name);
        if (!src) throw new Error(`saved weights lack ${name}`);
        if (src.shape.join() !== p.shape.join()) throw new Error(`saved ${name} has shape [${src.shape}], expected [${p.shape}]`);
        p.copy_(src);
      }
    }),
  );
  weightsChanged();
}
